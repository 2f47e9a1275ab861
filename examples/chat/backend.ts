/**
 * The chat's application backend: a plain `node:http` server with no WebSocket code at all (seed 002's
 * "WebSocket gateway" idea: the gateway keeps the WebSocket side, the existing HTTP service stays HTTP).
 *
 * It serves the chat page and a login form, and answers the gateway's hooks:
 * - connect: names the user from the `chat_name` cookie (401 without one) and puts it in `chat:lobby`;
 * - rpc `history`: the last {@link HISTORY_SIZE} messages, kept in memory;
 * - publish: checks a message (non-empty text, at most {@link MAX_TEXT} characters) and replaces it with
 *   `{id, user, text, at}`, the user being the one the gateway vouches for, then stores it;
 * - disconnect: announces who left with `{system: "<user> left"}`, pushed through the push API.
 * Every hook request must carry a valid signature (`verifyHookSignature`).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Logger } from '../../src/index.js';
import { createBackendServer, ExamplePage, type GatewayLink, HookReader, pageCsp, postPush, readBody, sendJson } from '../hook-shared.js';

/** The one room of the chat. */
export const LOBBY = 'chat:lobby';
/** Messages the backend keeps for the `history` RPC. */
export const HISTORY_SIZE = 50;
/** Longest message, in characters (code points). */
export const MAX_TEXT = 500;
/** Longest user name, in characters. */
export const MAX_NAME = 32;
/** The cookie that names the user. */
export const NAME_COOKIE = 'chat_name';
/** Largest request body read (hook calls, the login form); a larger one is answered 413. */
const MAX_BODY = 256 * 1024;

/** A chat message as pushed to the room and kept for history. */
export interface ChatMessage {
  /** Increasing number, so that a page can tell a pushed message from the same one in the history. */
  id: number;
  user: string;
  text: string;
  /** When the backend accepted it (ISO 8601). */
  at: string;
}

const pageFile = new URL('../../../examples/chat/index.html', import.meta.url);

/** A user name from the login form or the cookie: trimmed, 1 to {@link MAX_NAME} characters, no control characters. */
export function validName(raw: unknown): string | null {
  if (typeof raw !== 'string') return null;
  const name = raw.trim().normalize('NFC');
  const length = [...name].length;
  return length >= 1 && length <= MAX_NAME && !/\p{C}/u.test(name) ? name : null;
}

/** The user named by a `Cookie` header, or null. */
export function nameFromCookie(header: string | undefined): string | null {
  for (const pair of (header ?? '').split(';')) {
    const at = pair.indexOf('=');
    if (at === -1 || pair.slice(0, at).trim() !== NAME_COOKIE) continue;
    try {
      return validName(decodeURIComponent(pair.slice(at + 1).trim()));
    } catch {
      return null; // malformed %-escape
    }
  }
  return null;
}

/** Why a PUBLISH's data is no chat message, or its text. */
export function checkText(data: unknown): { text: string } | { reason: string } {
  const text = (data as { text?: unknown } | null)?.text;
  if (typeof text !== 'string') return { reason: 'a message is {"text": "…"}' };
  const trimmed = text.trim();
  if (trimmed === '') return { reason: 'empty message' };
  const length = [...trimmed].length;
  if (length > MAX_TEXT) return { reason: `message too long: ${length} characters (at most ${MAX_TEXT})` };
  return { text: trimmed };
}

// The parts of the hook requests this backend reads (the README's "Hooks" has them whole).
interface ConnectCall {
  conn: string;
  headers: Record<string, string>;
}
interface RpcCall {
  method: string;
}
interface PublishCall {
  user: string | null;
  room: string;
  data: unknown;
}
interface DisconnectCall {
  disconnects: Array<{ conn: string; user: string | null }>;
}
/** A hook's answer: its HTTP status and JSON body. */
interface HookAnswer {
  status: number;
  body: unknown;
}

function redirectHome(res: ServerResponse, cookie: string): void {
  res.writeHead(303, { location: '/', 'set-cookie': cookie, 'content-length': 0 });
  res.end();
}

/**
 * The chat backend. Create it, {@link listen}, start a gateway whose hooks point at {@link url}, then
 * {@link link} it to that gateway's push API.
 */
export class ChatBackend {
  readonly server: Server;
  // Its login and logout forms post to this backend (`form-action 'self'`).
  private readonly page = new ExamplePage(pageFile, pageCsp(true));
  private readonly hooks: HookReader;
  private readonly history: ChatMessage[] = [];
  private lastId = 0;
  private gateway: GatewayLink | null = null;

  constructor(
    /** The secret the gateway signs its hook requests with. */
    hookSecret: string,
    private readonly log: Logger,
  ) {
    this.hooks = new HookReader(hookSecret, log, MAX_BODY);
    this.server = createBackendServer(log, (req, res) => this.route(req, res));
  }

  /** Tells the backend where the gateway is (its push API, its WebSocket port). */
  link(gateway: GatewayLink): void {
    this.gateway = gateway;
  }

  /** The messages kept for `history`, oldest first. */
  messages(): readonly ChatMessage[] {
    return this.history;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://backend').pathname;
    const method = req.method ?? 'GET';
    if (path === '/' && (method === 'GET' || method === 'HEAD')) return this.sendPage(req, res, 200, null);
    if (path === '/login' && method === 'POST') return this.login(req, res);
    if (path === '/logout' && method === 'POST') {
      return redirectHome(res, `${NAME_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax`);
    }
    if (path.startsWith('/hooks/') && method === 'POST') return this.hook(path.slice('/hooks/'.length), req, res);
    sendJson(res, 404, { reason: 'not found' });
  }

  private sendPage(req: IncomingMessage, res: ServerResponse, status: number, error: string | null): void {
    const config = { name: nameFromCookie(req.headers.cookie), wsPort: this.gateway?.wsPort ?? null, room: LOBBY, maxText: MAX_TEXT, error };
    this.page.send(req, res, config, status);
  }

  // The login form: a name, kept in a cookie. A name is a claim, not a proof: a real backend would set its
  // session cookie here, and the connect hook would look the session up.
  private async login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req, res, MAX_BODY);
    if (raw === null) return;
    const form = new URLSearchParams(raw.toString('utf8'));
    const name = validName(form.get('name'));
    if (name === null) return this.sendPage(req, res, 400, `a name is 1 to ${MAX_NAME} characters, without control characters`);
    redirectHome(res, `${NAME_COOKIE}=${encodeURIComponent(name)}; Path=/; HttpOnly; SameSite=Lax`);
  }

  private async hook(name: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await this.hooks.read(req, res, `hook ${name}`);
    if (body === null) return;
    const answer = this.answerHook(name, body);
    sendJson(res, answer.status, answer.body);
  }

  /** A hook's answer: 2xx accepts (with the body's details), 4xx refuses (with a reason or a code). */
  private answerHook(name: string, body: unknown): HookAnswer {
    switch (name) {
      case 'connect':
        return this.onConnect(body as ConnectCall);
      case 'rpc':
        return this.onRpc(body as RpcCall);
      case 'publish':
        return this.onPublish(body as PublishCall);
      case 'disconnect':
        return this.onDisconnect(body as DisconnectCall);
      default:
        return { status: 404, body: { reason: `no hook ${name}` } };
    }
  }

  // {"conn","headers":{"cookie"},…} → {"user","rooms":["chat:lobby"],"data":{"name"}} or 401 {"reason"}.
  private onConnect(body: ConnectCall): HookAnswer {
    const name = nameFromCookie(body.headers.cookie);
    if (name === null) return { status: 401, body: { reason: 'not logged in: open the chat page and give a name' } };
    this.log.info(`connection ${body.conn}: ${name} joined`);
    this.announce([`${name} joined`]);
    return { status: 200, body: { user: name, rooms: [LOBBY], data: { name } } };
  }

  // {"method":"history"} → {"result":{"messages":[…]}}; other methods → 404 {"code":"UNKNOWN_METHOD"}.
  private onRpc(body: RpcCall): HookAnswer {
    if (body.method === 'history') return { status: 200, body: { result: { messages: this.history } } };
    return { status: 404, body: { code: 'UNKNOWN_METHOD', message: `no method ${JSON.stringify(body.method)}; try "history"` } };
  }

  // {"user","room","data":{"text"}} → {"data":{"id","user","text","at"}}, or 403 {"reason"}.
  private onPublish(body: PublishCall): HookAnswer {
    const refuse = (reason: string): HookAnswer => ({ status: 403, body: { reason } });
    if (body.room !== LOBBY) return refuse(`there is no room ${JSON.stringify(body.room)} here; the chat is ${LOBBY}`);
    if (body.user === null) return refuse('anonymous connections may not talk');
    const checked = checkText(body.data);
    if ('reason' in checked) return refuse(checked.reason);
    const message: ChatMessage = { id: ++this.lastId, user: body.user, text: checked.text, at: new Date().toISOString() };
    this.history.push(message);
    if (this.history.length > HISTORY_SIZE) this.history.shift();
    return { status: 200, body: { data: message } };
  }

  // {"disconnects":[{"conn","user",…},…]} → 200 {}, then {"system":"<user> left"} for each, to the room.
  private onDisconnect(body: DisconnectCall): HookAnswer {
    const left = body.disconnects.filter((gone) => gone.user !== null).map((gone) => `${gone.user} left`);
    if (left.length > 0) this.announce(left);
    return { status: 200, body: {} };
  }

  /** Pushes system lines to the room through the push API (best-effort: a failure is logged). */
  private announce(lines: string[]): void {
    const gateway = this.gateway;
    if (gateway === null) return;
    postPush(gateway.apiUrl, '/push/room', { room: LOBBY, items: lines.map((system) => ({ system })) }).then(
      (answer) => {
        if (!answer.ok) this.log.warn(`push to ${LOBBY} refused (${answer.status}): ${answer.text}`);
      },
      (error: unknown) => this.log.warn(`push to ${LOBBY} failed: ${(error as Error).message}`),
    );
  }
}
