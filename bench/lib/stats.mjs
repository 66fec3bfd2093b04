// Percentiles and summaries. Latencies are kept whole (every sample, bounded by the run's
// call cap) and sorted once; percentiles are nearest-rank.

/** Nearest-rank percentile (p in 0..100) of an ascending array. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** count, mean, min, p50, p90, p99, p99.9, max of samples (any unit), rounded to 0.1. */
export function summarize(samples) {
  const sorted = Float64Array.from(samples).sort();
  if (sorted.length === 0) return { count: 0 };
  let sum = 0;
  for (const v of sorted) sum += v;
  const r = (v) => (v === null ? null : Math.round(v * 10) / 10);
  return {
    count: sorted.length,
    mean: r(sum / sorted.length),
    min: r(sorted[0]),
    p50: r(percentile(sorted, 50)),
    p90: r(percentile(sorted, 90)),
    p99: r(percentile(sorted, 99)),
    p999: r(percentile(sorted, 99.9)),
    max: r(sorted[sorted.length - 1]),
  };
}

/** a - b per percentile (added latency), null where either side is missing. */
export function difference(a, b, keys = ['p50', 'p90', 'p99']) {
  const out = {};
  for (const key of keys) {
    out[key] =
      a?.[key] === undefined || b?.[key] === undefined || a[key] === null || b[key] === null
        ? null
        : Math.round((a[key] - b[key]) * 10) / 10;
  }
  return out;
}

export function round(value, digits = 1) {
  if (value === null || value === undefined || Number.isNaN(value)) return null;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
