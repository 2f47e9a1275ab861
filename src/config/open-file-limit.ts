import { readFileSync } from 'node:fs';

/** The per-process open-file limit in force (the soft limit), or null. */
export function openFileLimit(): number | null {
  try {
    const match = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return match === null ? null : Number(match[1]);
  } catch {
    return null;
  }
}
