import type { Deliverable } from '../merger/push-batch.js';
import type { ClientProtocol, PreparedFrame, PresenceEventBody } from '../protocol/client-protocol.js';

/** A PRESENCE_EVENT for a room's members, encoded once per protocol among its recipients, like a push batch. */
export class PresenceFrame implements Deliverable {
  private readonly frames = new Map<ClientProtocol, PreparedFrame>();

  constructor(readonly event: PresenceEventBody) {}

  frameFor(protocol: ClientProtocol): PreparedFrame {
    let frame = this.frames.get(protocol);
    if (frame === undefined) this.frames.set(protocol, (frame = protocol.presenceEvent(this.event)));
    return frame;
  }
}
