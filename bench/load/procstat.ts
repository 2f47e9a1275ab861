import { readFileSync } from 'node:fs';

// Linux reports process CPU in clock ticks; 100 per second on every mainstream kernel build.
const TICKS_PER_SECOND = 100;
const PAGE_SIZE = 4096;

/** CPU seconds (user + system) a process has used so far, or null when it cannot be read. */
export function processCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces, hence the last ')'): utime is the 12th, stime the 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** Resident memory of a process in bytes, or null. */
export function processRss(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? null : Number(match[1]) * 1024;
  } catch {
    return null;
  }
}

/** Memory the kernel holds for TCP sockets (all of them, both ends), bytes; null off Linux. */
export function kernelTcpMemory(): number | null {
  try {
    const match = /^TCP:.* mem (\d+)$/m.exec(readFileSync('/proc/net/sockstat', 'utf8'));
    return match === null ? null : Number(match[1]) * PAGE_SIZE;
  } catch {
    return null;
  }
}

/**
 * CPU seconds every process on the machine has used (user, nice and system time of every core, as
 * /proc/stat counts them), or null off Linux. Interrupt and softirq time (much of loopback TCP) is left
 * out: the kernel charges it to no process, so it would not compare with the per-process figures.
 */
export function machineBusySeconds(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    // cpu  user nice system idle iowait irq softirq steal guest guest_nice (guest time is already in user).
    const fields = line.trim().split(/\s+/).slice(1, 4).map(Number);
    const busy = fields[0]! + fields[1]! + fields[2]!;
    return busy / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** PIDs of a process's children (a cluster primary's workers), or [] when they cannot be read. */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Kernel memory held in slab caches (socket structures, their inodes and dentries among them), bytes;
 * null off Linux. Its growth over a run is what the kernel spent on the sockets the run opened.
 */
export function kernelSlabBytes(): number | null {
  try {
    const match = /^Slab:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    return match === null ? null : Number(match[1]) * 1024;
  } catch {
    return null;
  }
}
