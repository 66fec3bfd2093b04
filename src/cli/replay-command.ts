// `mcpgate policy replay`: shadow evaluation before a rollout. Every recorded decision of a
// decision log is evaluated again by a candidate bundle; each decision that would change
// (allow <-> deny, or different reasons) is reported.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_MAX_BUNDLE_BYTES, readBundleFile } from '../policy/bundle/read.js';
import { parseDecision, type Decision } from '../policy/decision.js';
import { enforceSupportedObligations } from '../policy/obligations.js';
import { DECISION_ENTRYPOINT, PolicyEngine, PolicyEvalError } from '../policy/engine.js';
import { parseCommand, type CommandSpec } from './command-spec.js';

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
    let after: Decision;
    try {
      // The same checks the gateway applies after the policy (unsupported obligations deny).
      after = enforceSupportedObligations(
        parseDecision(engine.evaluate(DECISION_ENTRYPOINT, JSON.stringify(event.input))),
      );
    } catch (err) {
      if (!(err instanceof PolicyEvalError)) throw err;
      after = {
        allow: false,
        reasons: [`${err.message}; denied`],
        obligations: parseDecision(undefined).obligations,
      };
    }
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

export const POLICY_REPLAY_SPEC = {
  name: 'policy replay',
  summary: 're-evaluate a decision log with a candidate policy and list what would change',
  options: {
    log: {
      type: 'string',
      value: 'FILE',
      required: true,
      help: "a decision log the gateway wrote (one JSON line per decision, OPA's format)",
    },
    bundle: {
      type: 'string',
      value: 'FILE',
      required: true,
      help: 'the candidate bundle, from `mcpgate policy build --out FILE`',
    },
    json: { type: 'boolean', default: false, help: 'print the whole report as JSON' },
    'fail-on-change': {
      type: 'boolean',
      default: false,
      help: 'exit 1 when any decision would change (for CI)',
    },
  },
  details: [
    'Every decision of mcp/authz/decision in the log is evaluated again with the candidate and compared: allow or deny, and the reasons. Events whose input was masked or erased are skipped and counted, because replaying them would not be faithful.',
  ],
  example: [
    'mcpgate policy build --out /tmp/candidate.tar.gz',
    'mcpgate policy replay --log examples/quickstart/.state/decisions.log --bundle /tmp/candidate.tar.gz',
  ],
} as const satisfies CommandSpec;

export async function replayCommand(argv: string[]): Promise<number> {
  const { values } = parseCommand(POLICY_REPLAY_SPEC, argv);
  if (values.log === undefined || values.bundle === undefined) return 2; // parseCommand refused it
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
