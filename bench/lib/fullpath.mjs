// The parts of the fullpath section (bench/run.mjs) that are not load: the all-on policy
// bundle (the bench upstream's tools pinned, the behaviour rules on for code-review), what
// the decision log shows of it, the GC pauses of one phase, and the RSS trend under load.
import { Buffer } from 'node:buffer';
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  cpSync,
  fstatSync,
  openSync,
  readFileSync,
  readSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { clearInterval, setInterval } from 'node:timers';
import { BIN, REGO, ROOT, writeMcpgateConfig } from './servers.mjs';
import { round, summarize } from './stats.mjs';

/**
 * The behaviour thresholds (rego/mcp/lib/behaviour.rego) a load generator's session crosses
 * at once: about a hundred calls a second each, the same echo call again and again. They
 * are raised in the bench's copy of the policy so the rules are evaluated on every call
 * without throttling or refusing the bench's traffic.
 */
const LOAD_THRESHOLDS = [
  'throttle_per_min',
  'refuse_per_min',
  'terminate_per_min',
  'loop_repeats',
  'terminate_repeats',
];
const RAISED = 1_000_000_000;

function runCli(args, what) {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 180_000,
  });
  if (result.status !== 0) {
    throw new Error(
      `${what} (mcpgate ${args.join(' ')}) exited ${result.status ?? result.signal}:\n` +
        `${result.stdout}\n${result.stderr}`.trim().slice(-2000),
    );
  }
  return result.stdout;
}

/**
 * Copies rego/ into `dir`, pins every item of the bench upstream (`mcpgate tools pin`),
 * opts code-review into the behaviour rules, raises their load thresholds, allows the
 * bench's contact tool for code-review as a source of pii, and builds the
 * bundle (`mcpgate policy build --rego … --out …`). Returns the bundle's path and what was done.
 */
export async function buildAllOnBundle({ dir, issuer, upstreams }) {
  const rego = join(dir, 'rego');
  cpSync(REGO, rego, { recursive: true });
  const pinsFile = join(rego, 'pins/data.json');
  const pinConfig = join(dir, 'pin.yaml');
  await writeMcpgateConfig(pinConfig, {
    issuer,
    upstreams,
    auditFile: join(dir, 'pin-decisions.log'),
  });
  const pinOutput = runCli(
    ['tools', 'pin', '--config', pinConfig, '--pins', pinsFile],
    'pinning the bench tools',
  );
  const pins = JSON.parse(readFileSync(pinsFile, 'utf8'));
  writeFileSync(
    join(rego, 'behaviour/data.json'),
    `${JSON.stringify({ purposes: ['code-review'] }, null, 2)}\n`,
  );
  const rulesFile = join(rego, 'mcp/lib/behaviour.rego');
  let rules = readFileSync(rulesFile, 'utf8');
  for (const name of LOAD_THRESHOLDS) {
    const pattern = new RegExp(`^${name} := \\d+$`, 'm');
    if (!pattern.test(rules)) throw new Error(`${rulesFile} has no "${name} := N" line`);
    rules = rules.replace(pattern, `${name} := ${RAISED}`);
  }
  writeFileSync(rulesFile, rules);
  // The bench's contact tool, allowed like echo (read-only) for code-review.
  const profileFile = join(rego, 'profiles/code-review/data.yaml');
  const profile = readFileSync(profileFile, 'utf8');
  const echoLine = /^( +)everything\.echo: \{allowed: true\}$/m;
  if (!echoLine.test(profile)) throw new Error(`${profileFile} does not allow everything.echo`);
  writeFileSync(
    profileFile,
    profile.replace(
      echoLine,
      (line, indent) => `${line}\n${indent}everything.contact: {allowed: true}`,
    ),
  );
  // And declared a source of personal data (rego/flow/data.json), as a deployment declares its
  // customer-record tools: an allowed call labels the session pii and its result is sketched.
  const flowFile = join(rego, 'flow/data.json');
  const flow = JSON.parse(readFileSync(flowFile, 'utf8'));
  flow.sources = { ...flow.sources, 'everything.contact': ['pii'] };
  writeFileSync(flowFile, `${JSON.stringify(flow, null, 2)}\n`);
  const bundle = join(dir, 'bundle.tar.gz');
  runCli(['policy', 'build', '--rego', rego, '--out', bundle], 'building the all-on bundle');
  return {
    bundle,
    pinnedTools: Object.keys(pins.tools ?? {}).sort(),
    flowSources: flow.sources,
    pinSummary: pinOutput.trim().split('\n').pop(),
    behaviourPurposes: ['code-review'],
    raisedThresholds: Object.fromEntries(LOAD_THRESHOLDS.map((n) => [n, RAISED])),
  };
}

/**
 * The decision-log lines in the first (or last) `bytes` of `file`: the file grows to
 * gigabytes under load, and only a few decisions are needed.
 */
function someDecisions(file, fromEnd, bytes = 4 * 1024 * 1024) {
  let fd;
  try {
    fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    const position = fromEnd ? Math.max(0, size - bytes) : 0;
    const buffer = Buffer.alloc(Math.min(bytes, size));
    const n = readSync(fd, buffer, 0, buffer.length, position);
    const lines = buffer.subarray(0, n).toString('utf8').split('\n');
    // The lines at the edges of the window may be cut short.
    if (position > 0) lines.shift();
    lines.pop();
    return lines.flatMap((line) => {
      try {
        return [JSON.parse(line)];
      } catch {
        return [];
      }
    });
  } catch {
    return [];
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * What the decision log shows of the capabilities: for the first logged tools/call of
 * `toolId` (among the first decisions, or the last with `fromEnd`), the tool's pin state,
 * whether behaviour facts were in the input, and the session's labels and argument
 * provenance (from the first such call whose session has labels).
 */
export function decisionLogFacts(file, toolId, { fromEnd = false } = {}) {
  const calls = someDecisions(file, fromEnd).filter(
    (d) => d.input?.action === 'tools/call' && d.input?.tool?.id === toolId,
  );
  const first = calls[0];
  const labelled = calls.find((d) => (d.input?.session?.labels ?? []).length > 0);
  return {
    decisionsRead: calls.length,
    pinState: first?.input?.tool?.pin?.state ?? null,
    behaviourPresent: first?.input?.behaviour !== undefined && first?.input?.behaviour !== null,
    behaviourKeys: first?.input?.behaviour ? Object.keys(first.input.behaviour).sort() : [],
    sessionLabels: labelled?.input?.session?.labels ?? [],
    argsFromResults: labelled?.input?.behaviour?.args_from_results ?? null,
    allowed: first?.result?.allow ?? first?.allow ?? null,
  };
}

/** Pause distribution (ms) of GC records [t, ms, kind] inside [fromMs, toMs]. */
export function gcPauses(file, window) {
  const { kinds, entries } = JSON.parse(readFileSync(file, 'utf8'));
  const inWindow = entries.filter(([t]) => t >= window.fromMs && t <= window.toMs);
  const describe = (rows) => {
    // summarize rounds to 0.1: in µs here, shown in ms.
    const us = summarize(rows.map(([, ms]) => ms * 1000));
    const total = rows.reduce((sum, [, ms]) => sum + ms, 0);
    const toMs = (v) => (v === null || v === undefined ? null : round(v / 1000, 3));
    return {
      count: rows.length,
      p50Ms: toMs(us.p50),
      p99Ms: toMs(us.p99),
      maxMs: toMs(us.max),
      totalMs: round(total, 1),
    };
  };
  const byKind = {};
  for (const [code, name] of Object.entries(kinds)) {
    const rows = inWindow.filter(([, , kind]) => String(kind) === code);
    if (rows.length > 0) byKind[name] = describe(rows);
  }
  const windowS = (window.toMs - window.fromMs) / 1000;
  const all = describe(inWindow);
  return {
    windowS: round(windowS, 1),
    all,
    byKind,
    pausedShare: windowS > 0 ? round(all.totalMs / 10 / windowS, 2) : null,
  };
}

/** Samples VmRSS of `pid` every `everyS` seconds (with epoch ms) until stopped. */
export function rssSampler(pid, everyS, rssBytes) {
  const samples = [];
  const take = () => {
    const bytes = rssBytes(pid);
    if (bytes !== null) samples.push({ t: Date.now(), bytes });
  };
  take();
  const timer = setInterval(take, everyS * 1000);
  return {
    stop() {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}

/**
 * RSS over a phase: first, last, max, and the least-squares slope over its second half in
 * MB/min; flat when that slope is at most `flatMbPerMin`.
 */
export function rssTrend(samples, window, flatMbPerMin = 1) {
  const inPhase = samples.filter((s) => s.t >= window.fromMs - 1000 && s.t <= window.toMs + 1000);
  if (inPhase.length === 0) return null;
  const mid = (window.fromMs + window.toMs) / 2;
  const half = inPhase.filter((s) => s.t >= mid);
  let slope = null;
  if (half.length >= 2) {
    const xs = half.map((s) => (s.t - mid) / 60_000);
    const ys = half.map((s) => s.bytes / 1048576);
    const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
    const my = ys.reduce((a, b) => a + b, 0) / ys.length;
    let num = 0;
    let den = 0;
    for (let i = 0; i < xs.length; i++) {
      num += (xs[i] - mx) * (ys[i] - my);
      den += (xs[i] - mx) ** 2;
    }
    slope = den > 0 ? num / den : null;
  }
  return {
    samples: inPhase.length,
    secondHalfSamples: half.length,
    firstBytes: inPhase[0].bytes,
    lastBytes: inPhase[inPhase.length - 1].bytes,
    maxBytes: Math.max(...inPhase.map((s) => s.bytes)),
    slopeMbPerMin: round(slope, 2),
    flatMbPerMin,
    flat: slope === null ? null : slope <= flatMbPerMin,
    series: inPhase.map((s) => [s.t, s.bytes]),
  };
}
