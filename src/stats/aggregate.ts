import { ADDITIVE_STATS, type AdditiveStat } from './stats.js';

/** What one process reports of itself (its presence, or its live counters). */
export interface ProcessReport {
  /** Its numeric stats, as in `GET /stats`. */
  stats: Readonly<Record<string, number>>;
  /** Members per room; all of its rooms unless `roomsTruncated`. */
  rooms: Readonly<Record<string, number>>;
  /** True when the process has more rooms than `rooms` lists (presence carries the largest 1000). */
  roomsTruncated: boolean;
}

/** The additive stats summed over processes. */
export type AdditiveTotals = Record<AdditiveStat, number>;

/** Several processes taken as one whole. */
export interface Aggregate {
  /** Every additive stat, summed (0 where no process reported it). Per-process stats are not here. */
  total: AdditiveTotals;
  /**
   * Distinct rooms with members in any of the processes: a room with members in two of them counts
   * once. Exact when `roomCountExact`; otherwise a lower bound (some process listed only its largest rooms).
   */
  roomCount: number;
  roomCountExact: boolean;
  /** Members per room over all the processes (rooms a process did not list are missing). */
  rooms: Record<string, number>;
}

/**
 * Combines process reports into one whole: sums the additive stats ({@link ADDITIVE_STATS}, declared
 * once in stats.ts), ignores the per-process ones (pid, worker, uptime, …) and any stat it does not
 * know (a newer node's), sums members per room, and counts rooms as the union of their names.
 *
 * A report whose room list is truncated leaves the union short: the count is then the larger of the
 * union and the biggest single process's own `roomCount`, and not exact — unless it is the only
 * report, whose own `roomCount` is exact.
 */
export function aggregateReports(reports: readonly ProcessReport[]): Aggregate {
  const total = Object.fromEntries(ADDITIVE_STATS.map((key) => [key, 0])) as AdditiveTotals;
  // No prototype: room names such as `__proto__` and `constructor` are valid, and must count as rooms.
  const rooms: Record<string, number> = Object.create(null);
  let truncated = false;
  let largestOwnCount = 0;
  for (const report of reports) {
    for (const key of ADDITIVE_STATS) {
      const value = report.stats[key];
      if (typeof value === 'number' && Number.isFinite(value)) total[key] += value;
    }
    for (const [room, members] of Object.entries(report.rooms)) {
      if (typeof members === 'number' && Number.isFinite(members)) rooms[room] = (rooms[room] ?? 0) + members;
    }
    truncated ||= report.roomsTruncated;
    const own = report.stats.roomCount;
    if (typeof own === 'number' && Number.isFinite(own)) largestOwnCount = Math.max(largestOwnCount, own);
  }
  const union = Object.keys(rooms).length;
  if (!truncated) return { total, roomCount: union, roomCountExact: true, rooms };
  return { total, roomCount: Math.max(union, largestOwnCount), roomCountExact: reports.length === 1, rooms };
}
