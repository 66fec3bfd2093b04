// `mcpgate policy replay`: shadow evaluation before a rollout. Every recorded decision of a
// decision log is evaluated again by a candidate bundle: each call decision (mcp/authz/decision)
// that would change (allow <-> deny, or different reasons) and each list (mcp/authz/visible)
// that would show other ids is reported. Every line of the log is counted in exactly one of
// the report's counts, so they add up to the log.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_MAX_BUNDLE_BYTES, readBundleFile } from '../policy/bundle/read.js';
import { decide } from '../policy/decide.js';
import { parseVisible, type Decision } from '../policy/decision.js';
import type { ResultAction } from '../policy/input.js';
import {
  DECISION_ENTRYPOINT,
  PolicyEngine,
  PolicyEvalError,
  VISIBLE_ENTRYPOINT,
} from '../policy/engine.js';
import { parseCommand, type CommandSpec } from '../util/command-spec.js';

interface LoggedEvent {
  decision_id?: string;
  path?: string;
  input?: {
    action?: string;
    tool?: { id?: string };
    resource?: { id?: string };
    prompt?: { id?: string };
    completion?: { ref?: { id?: string } };
    identity?: { subject?: string };
    session?: { purpose?: string };
  };
  result?: unknown;
  erased?: unknown[];
  masked?: unknown[];
}

interface ChangeOf {
  decision_id: string;
  /** The MCP method or other action (`tools/call`, `tools/list`, `session/open`). */
  action: string;
  subject: string;
  purpose: string;
}

/** A call decision that would change. */
export interface DecisionChange extends ChangeOf {
  kind: 'decision';
  /**
   * The tool, resource or prompt decided (for a completion: its prompt or template); empty
   * for session/open and admin actions.
   */
  tool: string;
  before: { allow: boolean; reasons: string[] };
  after: { allow: boolean; reasons: string[] };
}

/** A list that would show other ids. */
export interface ListChange extends ChangeOf {
  kind: 'list';
  before: { visible: string[] };
  after: { visible: string[] };
  /** Ids the candidate would show and the log's list did not, and the reverse. */
  shown: string[];
  hidden: string[];
}

export type ReplayChange = DecisionChange | ListChange;

export interface ReplayReport {
  /** Non-empty lines of the log: the sum of the five counts below. */
  lines: number;
  /** Call decisions (mcp/authz/decision) evaluated again. */
  decisions: number;
  /** List decisions (mcp/authz/visible) evaluated again. */
  lists: number;
  /** Of decisions + lists: the same answer (unchanged) or another (changed). */
  unchanged: number;
  changed: ReplayChange[];
  /** Events whose input was masked or erased: replaying them would not be faithful. */
  skipped_masked: number;
  /** Events of other paths than the two above, not replayed. */
  other_paths: number;
  unreadable_lines: number;
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The ids a logged list showed: the sorted array, or none when its evaluation failed. */
function loggedVisible(result: unknown): string[] {
  return Array.isArray(result)
    ? result.filter((id): id is string => typeof id === 'string').sort()
    : [];
}

/**
 * Decided as the gateway decides: unsupported obligations deny, failures deny. A result
 * decision (tools/result, ...) may carry out what a call's may not (redact).
 */
function candidateDecision(engine: PolicyEngine, inputJson: string, action: string): Decision {
  return decide(engine, inputJson, RESULT_ACTION_NAMES.has(action) ? 'result' : 'call').decision;
}

const RESULT_ACTION_NAMES: ReadonlySet<string> = new Set([
  'tools/result',
  'resources/result',
  'prompts/result',
] satisfies ResultAction[]);

function candidateVisible(engine: PolicyEngine, inputJson: string): string[] {
  try {
    // As the gateway: a failed or malformed list shows nothing.
    return [...parseVisible(engine.evaluate(VISIBLE_ENTRYPOINT, inputJson)).ids].sort();
  } catch (err) {
    if (!(err instanceof PolicyEvalError)) throw err;
    return [];
  }
}

export function replay(logText: string, engine: PolicyEngine): ReplayReport {
  const report: ReplayReport = {
    lines: 0,
    decisions: 0,
    lists: 0,
    unchanged: 0,
    changed: [],
    skipped_masked: 0,
    other_paths: 0,
    unreadable_lines: 0,
  };
  for (const line of logText.split('\n')) {
    if (line.trim() === '') continue;
    report.lines++;
    let event: LoggedEvent;
    try {
      event = JSON.parse(line) as LoggedEvent;
    } catch {
      report.unreadable_lines++;
      continue;
    }
    if (typeof event !== 'object' || event === null) {
      report.unreadable_lines++;
      continue;
    }
    if (event.path !== DECISION_ENTRYPOINT && event.path !== VISIBLE_ENTRYPOINT) {
      report.other_paths++;
      continue;
    }
    if (
      event.input === undefined ||
      (event.erased?.length ?? 0) > 0 ||
      (event.masked?.length ?? 0) > 0
    ) {
      report.skipped_masked++;
      continue;
    }
    const input = event.input;
    const inputJson = JSON.stringify(input);
    const of: ChangeOf = {
      decision_id: event.decision_id ?? '',
      action: input.action ?? '',
      subject: input.identity?.subject ?? '',
      purpose: input.session?.purpose ?? '',
    };
    if (event.path === VISIBLE_ENTRYPOINT) {
      report.lists++;
      const before = loggedVisible(event.result);
      const after = candidateVisible(engine, inputJson);
      if (sameStrings(before, after)) {
        report.unchanged++;
        continue;
      }
      report.changed.push({
        kind: 'list',
        ...of,
        before: { visible: before },
        after: { visible: after },
        shown: after.filter((id) => !before.includes(id)),
        hidden: before.filter((id) => !after.includes(id)),
      });
      continue;
    }
    report.decisions++;
    const after = candidateDecision(engine, inputJson, of.action);
    const result = (event.result ?? {}) as { allow?: unknown; reasons?: unknown };
    const before = {
      allow: result.allow === true,
      reasons: Array.isArray(result.reasons)
        ? result.reasons.filter((r): r is string => typeof r === 'string')
        : [],
    };
    if (before.allow === after.allow && sameStrings(before.reasons, after.reasons)) {
      report.unchanged++;
      continue;
    }
    report.changed.push({
      kind: 'decision',
      ...of,
      tool:
        input.tool?.id ?? input.resource?.id ?? input.prompt?.id ?? input.completion?.ref?.id ?? '',
      before,
      after: { allow: after.allow, reasons: after.reasons },
    });
  }
  return report;
}

/** One change, as the text report prints it. */
function describeChange(c: ReplayChange): string {
  const who = `(${c.subject}, ${c.purpose || 'no purpose'})`;
  if (c.kind === 'list') {
    const ids = (sign: string, list: string[]) => list.map((id) => `${sign}${id}`).join(' ');
    return (
      `CHANGED ${c.decision_id} ${c.action} ${who}: would show ${c.after.visible.length} ids instead of ${c.before.visible.length}` +
      `\n    ${[ids('+', c.shown), ids('-', c.hidden)].filter(Boolean).join(' ')}`
    );
  }
  const verdict = (d: { allow: boolean }) => (d.allow ? 'allow' : 'deny');
  return (
    `CHANGED ${c.decision_id} ${c.tool || c.action} ${who}: ${verdict(c.before)} -> ${verdict(c.after)}` +
    `\n    before: ${c.before.reasons.join('; ') || '-'}\n    after:  ${c.after.reasons.join('; ') || '-'}`
  );
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
    for (const change of report.changed) console.log(describeChange(change));
    const n = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;
    console.log(
      `replayed ${report.decisions + report.lists} of ${n(report.lines, 'line')} against ${engine.revision} ` +
        `(${n(report.decisions, 'decision')}, ${n(report.lists, 'list')}): ${report.unchanged} unchanged, ` +
        `${report.changed.length} changed; not replayed: ${report.skipped_masked} masked, ` +
        `${report.other_paths} of other paths, ${report.unreadable_lines} unreadable`,
    );
  }
  return values['fail-on-change'] && report.changed.length > 0 ? 1 : 0;
}
