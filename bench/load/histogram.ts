import type { LatencySummary } from './results.js';

// Log-linear buckets over microseconds: exact below 64 µs, then 32 buckets per power of two (≈3 %
// precision), up to 2^31 µs. Counts are plain arrays so that workers can send and sum them.
const EXACT = 64;
const PER_OCTAVE = 32;

function indexOf(micros: number): number {
  const v = Math.max(0, Math.min(0x7fffffff, Math.round(micros)));
  if (v < EXACT) return v;
  const shift = 31 - Math.clz32(v) - 5;
  return EXACT + (shift - 1) * PER_OCTAVE + ((v >> shift) - PER_OCTAVE);
}

function lowerBound(index: number): number {
  if (index < EXACT) return index;
  const shift = Math.floor((index - EXACT) / PER_OCTAVE) + 1;
  return (((index - EXACT) % PER_OCTAVE) + PER_OCTAVE) << shift;
}

/** A latency histogram that records in O(1), merges by adding counts, and reports percentiles in ms. */
export class Histogram {
  counts: number[] = [];
  total = 0;
  max = 0;

  /** Records one value in milliseconds. */
  record(ms: number): void {
    const index = indexOf(ms * 1000);
    this.counts[index] = (this.counts[index] ?? 0) + 1;
    this.total += 1;
    if (ms > this.max) this.max = ms;
  }

  /** Adds another histogram's counts (e.g. one sent by a worker process). */
  merge(other: { counts: Array<number | null>; total: number; max: number }): void {
    other.counts.forEach((count, index) => {
      if (count) this.counts[index] = (this.counts[index] ?? 0) + count;
    });
    this.total += other.total;
    this.max = Math.max(this.max, other.max);
  }

  /** The value (ms) at or below which `fraction` of the samples lie. */
  percentile(fraction: number): number {
    if (this.total === 0) return 0;
    const rank = Math.ceil(fraction * this.total);
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= rank) return Math.min(this.max, lowerBound(i + 1) / 1000);
    }
    return this.max;
  }

  summary(): LatencySummary {
    const cdf: Array<[number, number]> = [];
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      if (!this.counts[i]) continue;
      seen += this.counts[i];
      cdf.push([round(lowerBound(i + 1) / 1000), round(seen / this.total, 5)]);
    }
    return {
      count: this.total,
      p50: round(this.percentile(0.5)),
      p90: round(this.percentile(0.9)),
      p99: round(this.percentile(0.99)),
      p999: round(this.percentile(0.999)),
      max: round(this.max),
      cdf: thin(cdf, 200),
    };
  }
}

function round(value: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

// Keeps a chart-sized CDF: at most `limit` points, always the last.
function thin<T>(points: T[], limit: number): T[] {
  if (points.length <= limit) return points;
  const step = points.length / limit;
  const out: T[] = [];
  for (let i = 0; i < limit - 1; i++) out.push(points[Math.floor(i * step)]);
  out.push(points[points.length - 1]);
  return out;
}
