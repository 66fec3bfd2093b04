// `mcpgate baseline learn`: what each purpose's sessions normally look like, learnt offline
// from decision logs and written as bundle data (rego/baselines/data.json, data.baselines),
// where the gateway reads it for the behaviour signals (policy/behaviour.ts) and the policy
// can read it too. It is a policy change like any other: reviewed, built, signed, replayed.
//
// Only allowed call decisions (tools/call, resources/read, prompts/get on
// mcp/authz/decision) are learnt from: what was refused is not what a purpose normally does.
// Per session, in time order: its calls per minute (every minute it made a call), its
// duration (first call to last), its targets and its pairs of consecutive targets.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Percentiles, PurposeBaseline } from '../policy/behaviour.js';
import { parseCommand, type CommandSpec } from '../util/command-spec.js';

const DECIDED_CALLS = new Set(['tools/call', 'resources/read', 'prompts/get']);

interface LoggedCall {
  purpose: string;
  session: string;
  target: string;
  timeNs: number;
}

/** The allowed call decisions of a log, or why a line could not be read. */
function loggedCalls(text: string): { calls: LoggedCall[]; unreadable: number } {
  const calls: LoggedCall[] = [];
  let unreadable = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let event: {
      path?: unknown;
      result?: { allow?: unknown };
      input?: {
        action?: unknown;
        session?: { id?: unknown; purpose?: unknown };
        tool?: { id?: unknown };
        resource?: { id?: unknown };
        prompt?: { id?: unknown };
        request?: { time_ns?: unknown };
      };
    };
    try {
      event = JSON.parse(line) as typeof event;
    } catch {
      unreadable++;
      continue;
    }
    const input = event.input;
    if (event.path !== 'mcp/authz/decision' || event.result?.allow !== true) continue;
    if (typeof input?.action !== 'string' || !DECIDED_CALLS.has(input.action)) continue;
    const target = input.tool?.id ?? input.resource?.id ?? input.prompt?.id;
    const { id, purpose } = input.session ?? {};
    const timeNs = input.request?.time_ns;
    if (
      typeof target !== 'string' ||
      typeof id !== 'string' ||
      typeof purpose !== 'string' ||
      typeof timeNs !== 'number'
    ) {
      unreadable++;
      continue;
    }
    calls.push({ purpose, session: id, target, timeNs });
  }
  return { calls, unreadable };
}

/** Nearest-rank percentile of samples (0 for none). */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

function percentiles(samples: number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) };
}

/** The baselines of every purpose with at least `minSessions` sessions in the calls. */
export function learnBaselines(
  logs: readonly string[],
  minSessions: number,
): { purposes: Record<string, PurposeBaseline>; unreadable: number; skipped: string[] } {
  const bySession = new Map<string, LoggedCall[]>();
  let unreadable = 0;
  for (const text of logs) {
    const read = loggedCalls(text);
    unreadable += read.unreadable;
    for (const call of read.calls) {
      const key = `${call.purpose}\u0000${call.session}`;
      const list = bySession.get(key) ?? [];
      bySession.set(key, list);
      list.push(call);
    }
  }
  const learnt = new Map<
    string,
    {
      sessions: number;
      rates: number[];
      durations: number[];
      tools: Set<string>;
      ngrams: Set<string>;
    }
  >();
  for (const calls of bySession.values()) {
    calls.sort((a, b) => a.timeNs - b.timeNs);
    const first = calls[0] as LoggedCall;
    let purpose = learnt.get(first.purpose);
    if (!purpose) {
      purpose = { sessions: 0, rates: [], durations: [], tools: new Set(), ngrams: new Set() };
      learnt.set(first.purpose, purpose);
    }
    purpose.sessions++;
    const perMinute = new Map<number, number>();
    calls.forEach((call, i) => {
      const minute = Math.floor(call.timeNs / 60e9);
      perMinute.set(minute, (perMinute.get(minute) ?? 0) + 1);
      purpose.tools.add(call.target);
      const previous = calls[i - 1];
      if (previous !== undefined) purpose.ngrams.add(`${previous.target}>${call.target}`);
    });
    purpose.rates.push(...perMinute.values());
    const last = calls[calls.length - 1] as LoggedCall;
    purpose.durations.push(Math.round((last.timeNs - first.timeNs) / 1e9));
  }
  const purposes: Record<string, PurposeBaseline> = {};
  const skipped: string[] = [];
  for (const [name, p] of [...learnt].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (p.sessions < minSessions) {
      skipped.push(`${name} (${p.sessions} session${p.sessions === 1 ? '' : 's'})`);
      continue;
    }
    purposes[name] = {
      sessions: p.sessions,
      rate_per_min: percentiles(p.rates),
      duration_s: percentiles(p.durations),
      tools: [...p.tools].sort(),
      ngrams: [...p.ngrams].sort(),
    };
  }
  return { purposes, unreadable, skipped };
}

export const BASELINE_LEARN_SPEC = {
  name: 'baseline learn',
  summary: "learn each purpose's normal behaviour from decision logs, as bundle data",
  options: {
    log: {
      type: 'string',
      value: 'FILE',
      required: true,
      multiple: true,
      help: 'a decision log the gateway wrote; give --log again for more',
    },
    out: {
      type: 'string',
      value: 'FILE',
      default: 'rego/baselines/data.json',
      help: 'where the baselines go (the bundle data at data.baselines)',
    },
    'min-sessions': {
      type: 'string',
      value: 'N',
      default: '5',
      help: 'purposes with fewer sessions in the logs get no baseline',
    },
  },
  details: [
    "Learns from the allowed calls (tools/call, resources/read, prompts/get) of each session: calls per minute, duration, the targets used and each pair of consecutive targets. The gateway compares every call with its purpose's baseline (input.behaviour: rate_ratio, age_ratio, ngram_novel, novel_tools). Review the file, then build, sign and replay the policy as for any change.",
  ],
  example: [
    'mcpgate baseline learn --log /var/log/mcpgate/decisions.log',
    'mcpgate policy build && mcpgate policy replay --log /var/log/mcpgate/decisions.log --bundle wasm/bundle.tar.gz',
  ],
} as const satisfies CommandSpec;

export function baselineLearn(argv: string[]): number {
  const { values } = parseCommand(BASELINE_LEARN_SPEC, argv);
  const minSessions = Number(values['min-sessions']);
  if (!Number.isInteger(minSessions) || minSessions < 1) {
    console.error('mcpgate baseline learn: --min-sessions must be a whole number of at least 1');
    return 2;
  }
  const logs = (values.log ?? []).map((file) => readFileSync(resolve(file), 'utf8'));
  const { purposes, unreadable, skipped } = learnBaselines(logs, minSessions);
  const out = resolve(values.out);
  writeFileSync(out, `${JSON.stringify({ purposes }, null, 2)}\n`);
  for (const [name, b] of Object.entries(purposes)) {
    console.log(
      `${name}: ${b.sessions} sessions, p95 ${b.rate_per_min.p95} calls/min, p95 ${b.duration_s.p95} s, ${b.tools.length} targets, ${b.ngrams.length} pairs`,
    );
  }
  if (skipped.length > 0) {
    console.log(`no baseline (fewer than ${minSessions} sessions): ${skipped.join(', ')}`);
  }
  if (unreadable > 0) console.log(`${unreadable} lines could not be read and were left out`);
  console.log(`wrote ${out}; review it, then mcpgate policy build`);
  return 0;
}
