import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PresenceApi } from '../presence/presence-service.js';
import { sendJson } from '../server/http-reply.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

// `?room=` as given; a missing or bad name is the service's 400 `INVALID_ROOM`.
function roomOf(req: IncomingMessage): string {
  return new URL(req.url ?? '/', 'http://x').searchParams.get('room') ?? '';
}

/**
 * `GET /presence?room=R` (the room's connections, users and counts over the cluster, counts only past
 * `presenceMax`) and `GET /presence/stats?room=R` (counts only): see README "Presence".
 */
export function presenceRoutes(presence: PresenceApi): Record<'/presence' | '/presence/stats', { GET: Handler }> {
  return {
    '/presence': { GET: (req, res) => presence.presence(roomOf(req)).then((view) => sendJson(res, 200, view)) },
    '/presence/stats': { GET: (req, res) => presence.counts(roomOf(req)).then((counts) => sendJson(res, 200, counts)) },
  };
}
