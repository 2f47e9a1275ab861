import { WORKLOADS, type WorkloadName } from './load/runner.js';

/** Parses a positive integer option, naming it in the error. */
export function positiveInt(name: string, min = 1): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer ≥ ${min}, got "${value}"`);
    return n;
  };
}

/** Parses `idle,broadcast,…`, refusing unknown names. */
export function parseWorkloads(value: string): WorkloadName[] {
  return namesOf(value, WORKLOADS, 'workload');
}

/**
 * The names of a comma-separated list, each one of `allowed` (else an error naming `what` and the
 * choices); with `none`, the word `none` is the empty list.
 */
export function namesOf<T extends string>(value: string, allowed: readonly T[], what: string, none = false): T[] {
  if (none && value.trim() === 'none') return [];
  const names = value
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  for (const name of names) {
    if (!(allowed as readonly string[]).includes(name)) throw new Error(`unknown ${what} "${name}": use ${allowed.join(', ')}${none ? ' or none' : ''}`);
  }
  return names as T[];
}

/** The loopback destinations 127.0.0.1 … 127.0.0.N, to spread client sockets over N × the ephemeral ports. */
export function loopbackDestinations(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `127.0.0.${i + 1}`);
}

/** Pins this process to `core` (taskset), so the load generator's coordinator stays off the server's core. */
export async function pinSelf(core: number): Promise<boolean> {
  const { spawnSync } = await import('node:child_process');
  return spawnSync('taskset', ['-p', '-c', String(core), String(process.pid)], { stdio: 'ignore' }).status === 0;
}

/** The latency budgets pushgate's `--max-latency` accepts, ms. */
const BUDGET_RANGE = [10, 60000] as const;

/** Parses `25,50,100` into latency budgets (ms), refusing values pushgate would; `none` is the empty list. */
export function parseBudgets(value: string): number[] {
  if (value.trim() === 'none') return [];
  const budgets = value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const n = Number(part);
      if (!Number.isInteger(n) || n < BUDGET_RANGE[0] || n > BUDGET_RANGE[1]) {
        throw new Error(`--budgets: each budget is an integer of ms from ${BUDGET_RANGE[0]} to ${BUDGET_RANGE[1]}, got "${part}"`);
      }
      return n;
    });
  if (budgets.length === 0) throw new Error('--budgets: give at least one budget in ms, or none');
  return [...new Set(budgets)];
}
