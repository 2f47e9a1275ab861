// ws exports its frame builder (Socket.IO pre-frames broadcasts with it too), but @types/ws omits it.
import 'ws';

declare module 'ws' {
  export class Sender {
    static frame(
      data: Buffer,
      options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean },
    ): Buffer[];
  }
}
