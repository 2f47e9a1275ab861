// File watching whose backend has no WebSocket code (seed 002's third use case, behind a gateway): one
// process runs a pushgate Gateway and the watcher's plain HTTP backend (backend.ts), which serves the
// page, answers the subscribe hook with the file's content and pushes its changes through the push API.
//
// Run: npm run build && npm run example:file-watch [-- --file /var/log/syslog --backend-port 8080 ...]
// then open http://127.0.0.1:8080/ and change the file (`echo hello >> FILE`; the start-up line names it).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { GatewayCommandLine, GatewayExampleOptions, RunningExample } from '../hook-shared.js';
import { gatewayFlagsUsage, parseGatewayCommandLine, runExampleProgram, startBesideGateway, UsageError } from '../hook-shared.js';
import { FileWatchBackend } from './backend.js';

/** What {@link start} may be given; every field has a default. */
export interface FileWatchOptions extends GatewayExampleOptions {
  /** The file to watch. Default: a new file in a new temporary directory (both removed by `close()`). */
  file?: string;
}

/** A running file watch: its addresses, and how to stop it (`close()` removes the file if {@link start} created it). */
export interface RunningFileWatch extends RunningExample<FileWatchBackend> {
  /** The watched file (absolute). */
  file: string;
  /** Its room, `file:<name>`. */
  room: string;
}

/** Starts the watcher's backend, then a gateway whose subscribe hook points at it. */
export async function start(options: FileWatchOptions = {}): Promise<RunningFileWatch> {
  let tempDir: string | null = null;
  let file: string;
  if (options.file === undefined) {
    tempDir = mkdtempSync(join(tmpdir(), 'pushgate-file-watch-'));
    file = join(tempDir, 'watched.txt');
    writeFileSync(file, `Watched by pushgate's file-watch example. Append a line:\n  echo hello >> ${file}\n`);
  } else file = resolve(options.file);
  const watch = await startBesideGateway(options, {
    backend: (hookSecret, log) => new FileWatchBackend(file, hookSecret, log),
    gateway: (backendUrl) => ({
      subscribeHook: `${backendUrl}/hooks/subscribe`,
      // The snapshot (up to 64 KiB of text, JSON-escaped) must fit in the subscribe hook's answer.
      hookMaxAnswer: 1024 * 1024,
    }),
    cleanup: () => {
      if (tempDir !== null) rmSync(tempDir, { recursive: true, force: true });
    },
  });
  return { ...watch, file, room: watch.backend.room };
}

const USAGE = `usage: example:file-watch [--file F] [--host H] [--ws-port N] [--api-port N] [--backend-port N] [--hook-secret S]
  --file F          the file to watch [WATCH_FILE, default: a new temporary file]
${gatewayFlagsUsage('the page and the hook')}`;

/** The command line (flags win over the environment). */
export function parseCommandLine(args: string[], env: NodeJS.ProcessEnv): GatewayCommandLine & Pick<FileWatchOptions, 'file'> {
  return parseGatewayCommandLine(args, env, {
    flags: { file: { type: 'string' } },
    own: ({ setting }) => {
      const file = setting('file', 'WATCH_FILE');
      if (file === '') throw new UsageError('--file must not be empty');
      return { file };
    },
  });
}

// Runs only as a program, not when a test imports start().
await runExampleProgram(import.meta.url, {
  name: 'file-watch',
  usage: USAGE,
  parse: parseCommandLine,
  start,
  started: (watch) => `file-watch: watching ${watch.file} (room ${watch.room}); open ${watch.backendUrl}/ (gateway ${watch.wsUrl}, push API ${watch.apiUrl})`,
});
