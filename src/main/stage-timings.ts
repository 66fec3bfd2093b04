// A diagnostic for finding where a request's time goes (docs/performance.md): with
// MCPGATE_STAGE_TIMINGS=FILE in the environment, every chain times each stage it runs, and
// the totals (calls, mean, p50 and p99 from log2 buckets) per method and stage are written
// to FILE as JSON when the gateway stops. Unset (the default), no clock is read per stage.
import { writeFileSync } from 'node:fs';
import type { StageTimer } from '../pipeline/chain.js';

/** Bucket i holds durations in [2^i, 2^(i+1)) ns; 40 buckets reach beyond 18 minutes. */
const BUCKETS = 40;

interface StageTotals {
  count: number;
  totalNs: number;
  buckets: Float64Array;
}

export interface StageTimings {
  readonly timer: StageTimer;
  /** Writes the totals to the file; returns what was written. */
  write(): string;
}

/** The env var's collector, or undefined when MCPGATE_STAGE_TIMINGS is unset or empty. */
export function stageTimingsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): StageTimings | undefined {
  const file = env.MCPGATE_STAGE_TIMINGS;
  if (file === undefined || file === '') return undefined;
  const totals = new Map<string, StageTotals>();
  const timer: StageTimer = (method, stage, ns) => {
    const key = `${method}\u0000${stage}`;
    let t = totals.get(key);
    if (t === undefined)
      totals.set(key, (t = { count: 0, totalNs: 0, buckets: new Float64Array(BUCKETS) }));
    t.count++;
    t.totalNs += ns;
    const bucket = Math.min(BUCKETS - 1, Math.floor(Math.log2(Math.max(1, ns))));
    t.buckets[bucket] = (t.buckets[bucket] as number) + 1;
  };
  return {
    timer,
    write() {
      const rows = [...totals].map(([key, t]) => {
        const [method, stage] = key.split('\u0000') as [string, string];
        return {
          method,
          stage,
          count: t.count,
          mean_us: round(t.totalNs / t.count / 1000),
          p50_us: round(quantileNs(t, 0.5) / 1000),
          p99_us: round(quantileNs(t, 0.99) / 1000),
          total_ms: round(t.totalNs / 1e6),
        };
      });
      rows.sort((a, b) => b.total_ms - a.total_ms);
      const text = `${JSON.stringify({ written: new Date().toISOString(), stages: rows }, null, 1)}\n`;
      writeFileSync(file, text);
      return text;
    },
  };
}

/** The upper edge of the bucket holding quantile q: an estimate within a factor of two. */
function quantileNs(t: StageTotals, q: number): number {
  let seen = 0;
  for (let i = 0; i < BUCKETS; i++) {
    seen += t.buckets[i] as number;
    if (seen >= q * t.count) return 2 ** (i + 1);
  }
  return 2 ** BUCKETS;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
