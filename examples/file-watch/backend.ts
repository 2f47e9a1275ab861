/**
 * The file-watch backend: a plain `node:http` server with no WebSocket code (seed 002's "file watching"
 * example, behind a gateway). It watches one file and pushes each change through the push API to the
 * room `file:<name>`; a client joining the room gets the current content from the subscribe hook, as the
 * JOIN's ACK data.
 *
 * Every item and the snapshot carry a `version`, one more per change: a page applies a change only on
 * top of the version it shows, and joins again (a fresh snapshot) when it sees a gap — a change made
 * while its JOIN was being answered, or lost while it reconnected.
 */
import { type FSWatcher, watch as watchDirectory } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { basename, dirname } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { Logger } from '../../src/index.js';
import { createBackendServer, ExamplePage, type GatewayLink, HookReader, pageCsp, postPush, sendJson } from '../hook-shared.js';

/** A snapshot shows at most the file's last this many bytes (and as many characters, after appends). */
export const MAX_CONTENT = 64 * 1024;
/** Bytes one `append` item carries at most; a larger growth is sent as the file's end instead. */
export const MAX_APPEND_BYTES = 16 * 1024;
/** Bytes of the file's end remembered to tell an append (they are unchanged) from a rewrite. */
const TAIL_CHECK_BYTES = 256;
const MAX_HOOK_BODY = 64 * 1024;

/** What a client gets: the whole (shown) content, or text added at the end. */
export type FileItem =
  | { version: number; kind: 'content'; text: string; size: number; truncated: boolean; missing: boolean }
  | { version: number; kind: 'append'; text: string; size: number };

/** The snapshot a JOIN's ACK carries (the subscribe hook's `data`). */
export type FileSnapshot = Extract<FileItem, { kind: 'content' }>;

/** The room of a file: `file:` and its name, with characters a room name may not hold replaced by `_`. */
export function roomOf(file: string): string {
  const safe = basename(file)
    .normalize('NFC')
    .replace(/[^\p{L}\p{N}_\-.@]/gu, '_');
  return `file:${[...safe].slice(0, 120).join('') || '_'}`;
}

const pageFile = new URL('../../../examples/file-watch/index.html', import.meta.url);

/** The file as last read. */
interface FileState {
  exists: boolean;
  ino: number;
  size: number;
  mtimeMs: number;
  /** The last bytes of the file (up to {@link TAIL_CHECK_BYTES}), to recognise an append. */
  tail: Buffer;
  /** The shown text: the file's last {@link MAX_CONTENT} bytes, decoded, plus appends since (bounded). */
  text: string;
  truncated: boolean;
}

/** The last `max` UTF-16 units of `text`, without a broken surrogate pair at the start. */
function keepEnd(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = text.slice(-max);
  return /^[\uDC00-\uDFFF]/.test(end) ? end.slice(1) : end;
}

async function readRange(file: FileHandle, start: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let read = 0;
  while (read < length) {
    const { bytesRead } = await file.read(buffer, read, length - read, start + read);
    if (bytesRead === 0) break;
    read += bytesRead;
  }
  return buffer.subarray(0, read);
}

/**
 * Watches `file` and serves the page and the subscribe hook. {@link listen} is the caller's (through
 * {@link server}); {@link start} reads the file and starts watching; {@link link} names the push API.
 */
export class FileWatchBackend {
  readonly server: Server;
  /** The room this file's changes go to. */
  readonly room: string;
  private readonly page = new ExamplePage(pageFile, pageCsp());
  private readonly hooks: HookReader;
  private state: FileState = { exists: false, ino: 0, size: 0, mtimeMs: 0, tail: Buffer.alloc(0), text: '', truncated: false };
  private version = 0;
  private decoder = new StringDecoder('utf8');
  private watcher: FSWatcher | null = null;
  private reading: Promise<void> | null = null;
  private readAgain = false;
  private apiUrl: string | null = null;
  private wsPort: number | null = null;
  /** Pushes go one after the other, so that they arrive in version order. */
  private pushes: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    /** The watched file. */
    readonly file: string,
    hookSecret: string,
    private readonly log: Logger,
  ) {
    this.room = roomOf(file);
    this.hooks = new HookReader(hookSecret, log, MAX_HOOK_BODY);
    this.server = createBackendServer(log, (req, res) => this.route(req, res));
  }

  /**
   * Reads the file and watches its directory (not the file itself: an editor that saves by writing a
   * new file and renaming it over the old one would end a watch on the old file).
   */
  async start(): Promise<void> {
    await this.refresh();
    this.watcher = watchDirectory(dirname(this.file), (_event, name) => {
      // No name (some platforms): any change in the directory may be ours.
      if (name === null || name === basename(this.file)) void this.refresh();
    });
    this.watcher.on('error', (error) => this.log.warn(`watching ${dirname(this.file)} failed: ${error.message}`));
  }

  /** Where the gateway is: its push API (for the changes) and WebSocket port (for the page). */
  link({ apiUrl, wsPort }: GatewayLink): void {
    this.apiUrl = apiUrl;
    this.wsPort = wsPort;
  }

  /** The current content, as the subscribe hook gives it. */
  snapshot(): FileSnapshot {
    const { text, size, truncated, exists } = this.state;
    return { version: this.version, kind: 'content', text, size, truncated, missing: !exists };
  }

  /** Stops watching; resolves once the last read and the pushes queued are done. */
  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    await this.reading;
    await this.pushes;
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://backend').pathname;
    if (path === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
      return this.page.send(req, res, { wsPort: this.wsPort, room: this.room, file: this.file });
    }
    if (path === '/hooks/subscribe' && req.method === 'POST') return this.onSubscribe(req, res);
    sendJson(res, 404, { reason: 'not found' });
  }

  // {"conn","user","room","data"} → {"data": <snapshot>} for this file's room, 403 {"reason"} for any other.
  private async onSubscribe(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const call = await this.hooks.read<{ room: string }>(req, res, 'subscribe hook');
    if (call === null) return;
    const { room } = call;
    if (room !== this.room) return sendJson(res, 403, { reason: `this backend serves only ${this.room}` });
    sendJson(res, 200, { data: this.snapshot() });
  }

  /** Reads what changed, one read at a time: a change seen during a read makes one more read after it. */
  private refresh(): Promise<void> {
    if (this.reading !== null) {
      this.readAgain = true;
      return this.reading;
    }
    this.reading = (async () => {
      try {
        do {
          this.readAgain = false;
          await this.readChange().catch((error: unknown) => this.log.warn(`reading ${this.file} failed: ${(error as Error).message}`));
        } while (this.readAgain && !this.closed);
      } finally {
        this.reading = null;
      }
    })();
    return this.reading;
  }

  private async readChange(): Promise<void> {
    const before = this.state;
    let file: FileHandle;
    try {
      file = await open(this.file, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      if (before.exists || this.version === 0)
        this.update({ ...before, exists: false, ino: 0, size: 0, mtimeMs: 0, tail: Buffer.alloc(0), text: '', truncated: false }, null);
      return;
    }
    try {
      const info = await file.stat();
      if (before.exists && info.ino === before.ino && info.size === before.size && info.mtimeMs === before.mtimeMs) return;
      const grown = info.size - before.size;
      // An append: the same file, longer, its old end unchanged, and not too much at once.
      if (before.exists && info.ino === before.ino && grown > 0 && grown <= MAX_APPEND_BYTES) {
        const check = await readRange(file, before.size - before.tail.length, before.tail.length);
        if (check.equals(before.tail)) {
          const added = await readRange(file, before.size, grown);
          const text = this.decoder.write(added);
          const size = before.size + added.length;
          const tail = Buffer.concat([before.tail, added]).subarray(-TAIL_CHECK_BYTES);
          const shown = keepEnd(before.text + text, MAX_CONTENT);
          this.update(
            {
              exists: true,
              ino: info.ino,
              size,
              mtimeMs: info.mtimeMs,
              tail,
              text: shown,
              truncated: before.truncated || shown.length < before.text.length + text.length,
            },
            text,
          );
          return;
        }
      }
      // Anything else (new file, rewritten, shortened, or a large growth): its end, read afresh.
      const start = Math.max(0, info.size - MAX_CONTENT);
      let bytes = await readRange(file, start, info.size - start);
      const size = start + bytes.length;
      const tail = Buffer.from(bytes.subarray(-TAIL_CHECK_BYTES));
      // Starting in the middle of a character: skip its continuation bytes.
      let skip = 0;
      if (start > 0) while (skip < bytes.length && skip < 3 && (bytes[skip] & 0xc0) === 0x80) skip += 1;
      bytes = bytes.subarray(skip);
      this.decoder = new StringDecoder('utf8');
      const text = this.decoder.write(bytes);
      this.update({ exists: true, ino: info.ino, size, mtimeMs: info.mtimeMs, tail, text, truncated: start > 0 }, null);
    } finally {
      await file.close();
    }
  }

  /** Takes the new state and pushes it: the appended text, or (`appended` null) the whole content. */
  private update(next: FileState, appended: string | null): void {
    this.state = next;
    this.version += 1;
    if (this.version === 1) return; // the first read, at start: nobody to tell
    const item: FileItem = appended === null ? this.snapshot() : { version: this.version, kind: 'append', text: appended, size: next.size };
    this.push(item);
  }

  private push(item: FileItem): void {
    const apiUrl = this.apiUrl;
    if (apiUrl === null) return;
    this.pushes = this.pushes.then(async () => {
      try {
        const answer = await postPush(apiUrl, '/push/room', { room: this.room, items: [item] });
        if (!answer.ok) this.log.warn(`push of version ${item.version} refused (${answer.status}): ${answer.text}`);
        else
          this.log.info(
            `version ${item.version} (${item.kind}, ${Buffer.byteLength(item.text)} bytes) pushed to ${JSON.parse(answer.text).recipients} client(s)`,
          );
      } catch (error) {
        this.log.warn(`push of version ${item.version} failed: ${(error as Error).message}`);
      }
    });
  }
}
