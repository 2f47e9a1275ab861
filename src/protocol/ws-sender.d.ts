// ws exports its frame builder (Socket.IO pre-frames broadcasts with it too), but @types/ws omits it.
import 'ws';

declare module 'ws' {
  // biome-ignore lint/complexity/noStaticOnlyClass: declares ws's existing class, static member and all.
  export class Sender {
    static frame(data: Buffer, options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }): Buffer[];
  }
}
