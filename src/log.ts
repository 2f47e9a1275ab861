import type { Logger } from 'pino';
import { pino, destination as pinoDestination } from 'pino';
import pretty from 'pino-pretty';
import type { LogFormat, LogLevel } from './config/options.js';

export type { Logger } from 'pino';

/**
 * The process logger: `json` writes one JSON object per line (for log shippers), `text` one readable
 * line per event. Both go to stdout synchronously, so the start-up line is out before anyone waits on it.
 */
export function createLogger(level: LogLevel, format: LogFormat, destination: NodeJS.WritableStream = process.stdout): Logger {
  if (format === 'json') {
    return pino({ level, base: { pid: process.pid } }, destination === process.stdout ? pinoDestination({ dest: 1, sync: true }) : destination);
  }
  const stream = pretty({
    sync: true,
    colorize: false,
    singleLine: true,
    ignore: 'pid,hostname',
    translateTime: 'SYS:HH:MM:ss.l',
    destination,
  });
  return pino({ level }, stream);
}

/** A logger that writes nothing (library use and tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
