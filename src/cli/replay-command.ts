// `mcpgate policy replay`: shadow evaluation before a rollout. Every recorded decision of a
// decision log is evaluated again by a candidate bundle; each decision that would change
// (allow <-> deny, or different reasons) is reported.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_MAX_BUNDLE_BYTES, readBundleFile } from '../policy/bundle/read.js';
import { decide } from '../policy/decide.js';
import { DECISION_ENTRYPOINT, PolicyEngine } from '../policy/engine.js';

interface LoggedEvent {
  decision_id?: string;
  path?: string;
  input?: {
    tool?: { id?: string };
    identity?: { subject?: string };
    session?: { purpose?: string };
  };
  result?: { allow?: unknown; reasons?: unknown };
  erased?: unknown[];
  masked?: unknown[];
}

export interface ReplayChange {
  decision_id: string;
  tool: string;
  subject: string;
  purpose: string;
  before: { allow: boolean; reasons: string[] };
  after: { allow: boolean; reasons: string[] };
}

export interface ReplayReport {
  decisions: number;
  unchanged: number;
  changed: ReplayChange[];
  /** Events whose input was masked or erased: replaying them would not be faithful. */
  skipped_masked: number;
  unreadable_lines: number;
}

export function replay(logText: string, engine: PolicyEngine): ReplayReport {
  const report: ReplayReport = {
    decisions: 0,
    unchanged: 0,
    changed: [],
    skipped_masked: 0,
    unreadable_lines: 0,
  };
  for (const line of logText.split('\n')) {
    if (line.trim() === '') continue;
    let event: LoggedEvent;
    try {
      event = JSON.parse(line) as LoggedEvent;
    } catch {
      report.unreadable_lines++;
      continue;
    }
    if (event.path !== DECISION_ENTRYPOINT) continue;
    if (
      event.input === undefined ||
      (event.erased?.length ?? 0) > 0 ||
      (event.masked?.length ?? 0) > 0
    ) {
      report.skipped_masked++;
      continue;
    }
    report.decisions++;
    // Decided as the gateway decides (unsupported obligations deny, failures deny).
    const after = decide(engine, JSON.stringify(event.input)).decision;
    const before = {
      allow: event.result?.allow === true,
      reasons: Array.isArray(event.result?.reasons) ? (event.result.reasons as string[]) : [],
    };
    const same =
      before.allow === after.allow &&
      before.reasons.length === after.reasons.length &&
      before.reasons.every((r, i) => r === after.reasons[i]);
    if (same) {
      report.unchanged++;
      continue;
    }
    report.changed.push({
      decision_id: event.decision_id ?? '',
      tool: event.input.tool?.id ?? '',
      subject: event.input.identity?.subject ?? '',
      purpose: event.input.session?.purpose ?? '',
      before,
      after: { allow: after.allow, reasons: after.reasons },
    });
  }
  return report;
}

export async function replayCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      log: { type: 'string' },
      bundle: { type: 'string' },
      json: { type: 'boolean', default: false },
      'fail-on-change': { type: 'boolean', default: false },
    },
  });
  if (!values.log || !values.bundle) {
    console.error('policy replay needs --log decisions.jsonl and --bundle candidate.tar.gz');
    return 2;
  }
  const engine = PolicyEngine.load(
    await readBundleFile(resolve(values.bundle), { maxBytes: DEFAULT_MAX_BUNDLE_BYTES }),
    {
      initialPages: 5,
      maxPages: 1024,
    },
  );
  const report = replay(readFileSync(resolve(values.log), 'utf8'), engine);
  if (values.json) {
    console.log(JSON.stringify({ candidate_revision: engine.revision, ...report }, null, 2));
  } else {
    for (const c of report.changed) {
      const verdict = (d: { allow: boolean }) => (d.allow ? 'allow' : 'deny');
      console.log(
        `CHANGED ${c.decision_id} ${c.tool} (${c.subject}, ${c.purpose}): ${verdict(c.before)} -> ${verdict(c.after)}` +
          `\n    before: ${c.before.reasons.join('; ') || '-'}\n    after:  ${c.after.reasons.join('; ') || '-'}`,
      );
    }
    console.log(
      `replayed ${report.decisions} decisions against ${engine.revision}: ${report.unchanged} unchanged, ` +
        `${report.changed.length} changed, ${report.skipped_masked} skipped (masked), ` +
        `${report.unreadable_lines} unreadable lines`,
    );
  }
  return values['fail-on-change'] && report.changed.length > 0 ? 1 : 0;
}
