import type { ClientProtocol, ConnectedInfo, DecodedFrame, JoinStream, PreparedFrame, PresenceEventBody, RequestId, StreamStamp } from './client-protocol.js';
import type { ErrorCodeName } from './codes.js';
import { CloseCode } from './codes.js';
import { encodeAck, encodeConnected, encodeError, encodePong, encodePresenceEvent, encodePush, encodeReply, encodeWarning } from './encode.js';
import { decodeClientMessage } from './messages.js';
import { prepareFrame } from './prepared-frame.js';

const BINARY_REFUSED: DecodedFrame = Object.freeze({
  type: 'REFUSED',
  close: CloseCode.UNSUPPORTED_DATA,
  reason: 'binary frames are not supported; send JSON text frames',
});

// Framed once for the whole process: every PING without an id gets these same bytes.
const PONG = prepareFrame(encodePong(undefined));

/**
 * go-push's JSON protocol: `{"type": T, "id"?: …, "data": {...}}` text frames both ways (see the
 * README's protocol section). Binary frames are refused with 1003.
 */
export const goPushProtocol: ClientProtocol = Object.freeze({
  name: 'go-push',
  decode(message: string | Buffer): DecodedFrame {
    return typeof message === 'string' ? decodeClientMessage(message) : BINARY_REFUSED;
  },
  push(items: readonly string[], room: string | undefined, stamp?: StreamStamp): PreparedFrame {
    return prepareFrame(encodePush(items, room, stamp), items.length);
  },
  ack(id: RequestId, conn: string, data?: string, stream?: JoinStream): PreparedFrame {
    return prepareFrame(encodeAck(id, conn, data, stream));
  },
  error(id: RequestId | undefined, code: ErrorCodeName, message: string, extra?: Record<string, string>): PreparedFrame {
    return prepareFrame(encodeError(id, code, message, extra));
  },
  reply(id: RequestId, result: string): PreparedFrame {
    return prepareFrame(encodeReply(id, result));
  },
  connected(info: ConnectedInfo): PreparedFrame {
    return prepareFrame(encodeConnected(info));
  },
  pong(id: RequestId | undefined): PreparedFrame {
    return id === undefined ? PONG : prepareFrame(encodePong(id));
  },
  warning(code: string, message: string, extra?: Record<string, number | string>): PreparedFrame {
    return prepareFrame(encodeWarning(code, message, extra));
  },
  presenceEvent(event: PresenceEventBody): PreparedFrame {
    return prepareFrame(encodePresenceEvent(event));
  },
});
