import type { IncomingMessage, ServerResponse } from 'node:http';
import { BrokerUnavailableError } from '../broker/broker.js';
import type { HistoryPage, HistoryQuery } from '../history/history-store.js';
import { apiError } from '../protocol/errors.js';
import { roomNameProblem } from '../protocol/room-name.js';

/** Most items one `GET /history` answers with. */
export const MAX_HISTORY_LIMIT = 10_000;
/** Items `GET /history` answers with when `limit` is absent. */
export const DEFAULT_HISTORY_LIMIT = 100;

/** What the history route reads: a room's stream, or null when the room keeps none. */
export type HistoryReader = (room: string, query: HistoryQuery) => Promise<HistoryPage> | null;

function integer(name: string, value: string | null, max: number): number | undefined {
  if (value === null) return undefined;
  if (!/^\d{1,16}$/.test(value) || Number(value) > max) throw apiError.INVALID_BODY.badParameter(name, `an integer from 0 to ${max}`);
  return Number(value);
}

/** `GET /history?room=R[&since=N][&limit=L][&reverse=true]`: the query, checked. */
export function historyQuery(params: URLSearchParams): { room: string; query: HistoryQuery } {
  const room = params.get('room');
  const problem = roomNameProblem(room);
  if (problem !== null) throw apiError.INVALID_ROOM.problem(problem);
  const reverse = params.get('reverse');
  if (reverse !== null && reverse !== 'true' && reverse !== 'false') throw apiError.INVALID_BODY.badParameter('reverse', 'true or false');
  const limit = integer('limit', params.get('limit'), MAX_HISTORY_LIMIT) ?? DEFAULT_HISTORY_LIMIT;
  if (limit < 1) throw apiError.INVALID_BODY.badParameter('limit', `an integer from 1 to ${MAX_HISTORY_LIMIT}`);
  const since = integer('since', params.get('since'), Number.MAX_SAFE_INTEGER);
  return { room: room as string, query: { since, limit, reverse: reverse === 'true' } };
}

/**
 * The body of a history answer, written by hand so that each item goes out as the exact JSON text it
 * was pushed as (never parsed and re-encoded).
 */
export function historyBody(room: string, page: HistoryPage): string {
  let items = '';
  for (const entry of page.entries) items += `${items === '' ? '' : ','}{"offset":${entry.offset},"item":${entry.item}}`;
  return `{"room":${JSON.stringify(room)},"epoch":${JSON.stringify(page.epoch)},"top":${page.top},"first":${page.first},"items":[${items}]}`;
}

/**
 * `GET /history`: a room's recent items with their offsets, oldest first (newest first with
 * `reverse=true`), after offset `since` (before it, reversed), at most `limit`; with the stream's epoch,
 * its last offset (`top`) and the oldest it still holds (`first`). A backend renders a page from it and
 * tells its clients the offset and epoch to JOIN with, so that they get exactly what came after.
 */
export function historyRoute(read: HistoryReader): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const { room, query } = historyQuery(new URL(req.url ?? '/', 'http://x').searchParams);
    const reading = read(room, query);
    if (reading === null) throw apiError.NO_HISTORY.room(room);
    let page: HistoryPage;
    try {
      page = await reading;
    } catch (error) {
      if (error instanceof BrokerUnavailableError) throw apiError.BROKER_UNAVAILABLE.historyUnavailable();
      throw error;
    }
    const text = historyBody(room, page);
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
    res.end(text);
  };
}
