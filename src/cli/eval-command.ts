// `mcpgate eval`: a dry run of one decision. Either a whole input document (--input FILE) or
// a hypothetical call described by flags (user, groups, purpose, tool, arguments), evaluated
// in-process by the compiled policy exactly as the gateway would.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_MAX_BUNDLE_BYTES, readBundleFile } from '../policy/bundle/read.js';
import { decide } from '../policy/decide.js';
import { DECISION_ENTRYPOINT, PolicyEngine } from '../policy/engine.js';
import { buildInput, hypotheticalSession, type PolicyInput } from '../policy/input.js';
import type { HistoryEntry } from '../sessions/session.js';
import type { PinFacts } from '../upstreams/trust/pins.js';
import { GATEWAY_VERSION } from '../util/version.js';
import { staleBundleWarning } from '../toolchain/stale-bundle.js';
import { parseCommand, UsageError, type CommandSpec } from '../util/command-spec.js';

const list = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

function parseJson(value: string, flag: string): unknown {
  try {
    return JSON.parse(value) as unknown;
  } catch (err) {
    throw new Error(`${flag} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

function isHistoryEntry(value: unknown): value is HistoryEntry {
  if (typeof value !== 'object' || value === null) return false;
  const entry = value as Record<string, unknown>;
  return (
    typeof entry.action === 'string' &&
    typeof entry.target === 'string' &&
    typeof entry.args_digest === 'string' &&
    typeof entry.allowed === 'boolean' &&
    typeof entry.at_ns === 'number'
  );
}

const PIN_STATES = ['pinned', 'pending', 'changed'] as const;

/** The tool's pin facts as --pin gives them (a changed pin names no fields here). */
function pinFromFlag(value: string | undefined): PinFacts {
  const state = value ?? 'pinned';
  if (!(PIN_STATES as readonly string[]).includes(state)) {
    throw new Error(`--pin must be one of ${PIN_STATES.join(', ')}`);
  }
  return state === 'changed'
    ? { state, changed: [], since: 'pin' }
    : { state: state as PinFacts['state'] };
}

/** The input document for a hypothetical tools/call described by flags. */
export function inputFromFlags(values: Record<string, string | undefined>): PolicyInput {
  const tool = values.tool ?? '';
  const dot = tool.indexOf('.');
  if (dot <= 0)
    throw new Error('--tool must be a tool id, server.tool (e.g. filesystem.read_text_file)');
  const now = Date.now();
  const args = values.args === undefined ? {} : parseJson(values.args, '--args');
  if (typeof args !== 'object' || args === null || Array.isArray(args))
    throw new Error('--args must be a JSON object');
  const annotations =
    values.annotations === undefined ? {} : parseJson(values.annotations, '--annotations');
  const history =
    values.history === undefined
      ? []
      : parseJson(readFileSync(resolve(values.history), 'utf8'), '--history');
  if (!Array.isArray(history) || !history.every(isHistoryEntry))
    throw new Error(
      '--history must hold a JSON array of history entries {action, target, args_digest, allowed, at_ns}',
    );
  const user = values.user ?? 'eval-user';
  const identity = {
    issuer: values.issuer ?? 'https://mcpgate.eval/',
    subject: user,
    user_id: user,
    client_id: 'mcpgate-eval',
    scopes: list(values.scopes),
    roles: list(values.roles),
    groups: list(values.groups),
    groups_overage: false,
    token_type: 'user' as const,
    amr: [],
    claims: { sub: user },
  };
  // The session the store would hold after these calls, so history.called() sees them.
  const session = hypotheticalSession({
    id: 'eval',
    purpose: values.purpose ?? 'default',
    history,
    createdAt: now,
  });
  return buildInput(
    'tools/call',
    {
      identity,
      session,
      protocolVersion: undefined,
      gateway: { id: 'mcpgate-eval', version: GATEWAY_VERSION },
    },
    {
      tool: {
        server: tool.slice(0, dot),
        name: tool.slice(dot + 1),
        id: tool,
        annotations: annotations as Record<string, unknown>,
        definition_hash: '',
        pin: pinFromFlag(values.pin),
        findings: [],
      },
      arguments: args as Record<string, unknown>,
    },
    now,
  );
}

export const EVAL_SPEC = {
  name: 'eval',
  summary: "dry run: the policy's decision for one call, in-process, no gateway needed",
  usage: [
    'mcpgate eval --tool SERVER.TOOL [--args JSON] [--purpose P] [--user U] [--groups a,b]',
    '             [--roles a,b] [--scopes a,b] [--issuer URL] [--annotations JSON] [--history FILE]',
    '             [--bundle FILE] [--rego DIR]',
    'mcpgate eval --input FILE [--bundle FILE] [--entrypoint PATH] [--rego DIR]',
  ],
  options: {
    tool: {
      type: 'string',
      value: 'SERVER.TOOL',
      help: 'the tool of a hypothetical tools/call, as the policy names it (filesystem.read_text_file)',
    },
    args: { type: 'string', value: 'JSON', defaultText: '{}', help: "the call's arguments" },
    purpose: { type: 'string', value: 'P', defaultText: 'default', help: "the session's purpose" },
    user: { type: 'string', value: 'U', defaultText: 'eval-user', help: "the caller's subject" },
    groups: { type: 'string', value: 'a,b', help: "the caller's groups, comma-separated" },
    roles: { type: 'string', value: 'a,b', help: "the caller's roles, comma-separated" },
    scopes: { type: 'string', value: 'a,b', help: "the token's scopes, comma-separated" },
    issuer: {
      type: 'string',
      value: 'URL',
      defaultText: 'https://mcpgate.eval/',
      help: "the token's issuer",
    },
    annotations: {
      type: 'string',
      value: 'JSON',
      defaultText: '{}',
      help: 'the tool\'s annotations ({"readOnlyHint":true})',
    },
    pin: {
      type: 'string',
      value: 'STATE',
      default: 'pinned',
      help: "the tool's pin state: pinned, pending (not pinned) or changed (quarantined); see docs/tool-trust.md",
    },
    history: {
      type: 'string',
      value: 'FILE',
      help: 'a JSON array of earlier calls in the session {action, target, args_digest, allowed, at_ns}',
    },
    input: {
      type: 'string',
      value: 'FILE',
      help: 'a whole input document (rego/schema/input.json) instead of the flags above',
    },
    bundle: {
      type: 'string',
      value: 'FILE',
      default: 'wasm/bundle.tar.gz',
      help: 'the compiled policy (`mcpgate policy build`)',
    },
    entrypoint: {
      type: 'string',
      value: 'PATH',
      default: DECISION_ENTRYPOINT,
      help: 'the rule to evaluate (mcp/authz/visible for a list)',
    },
    rego: {
      type: 'string',
      value: 'DIR',
      default: 'rego',
      help: 'the policy sources: eval warns when they changed after the bundle was built',
    },
  },
  details: [
    'Prints the revision of the bundle, the evaluation time in microseconds and the result. The flags build the input the gateway would send for a tools/call in a session whose earlier calls are --history (none by default); --input gives the whole document instead.',
  ],
  example: [
    `mcpgate eval --purpose code-review --groups engineering --tool filesystem.read_text_file --args '{"path":"src/app.ts"}' --annotations '{"readOnlyHint":true}'`,
  ],
} as const satisfies CommandSpec;

export async function evalCommand(argv: string[]): Promise<number> {
  const { values } = parseCommand(EVAL_SPEC, argv);
  if (values.input === undefined && values.tool === undefined) {
    throw new UsageError(
      EVAL_SPEC.name,
      'needs --tool SERVER.TOOL (a hypothetical call) or --input FILE (a whole input document)',
    );
  }
  const inputJson =
    values.input !== undefined
      ? JSON.stringify(parseJson(readFileSync(resolve(values.input), 'utf8'), '--input'))
      : JSON.stringify(inputFromFlags(values));
  const engine = PolicyEngine.load(
    await readBundleFile(resolve(values.bundle), { maxBytes: DEFAULT_MAX_BUNDLE_BYTES }),
    {
      initialPages: 5,
      maxPages: 1024,
    },
  );
  const stale = staleBundleWarning(values.bundle, engine.revision, resolve(values.rego));
  if (stale !== undefined) console.error(`mcpgate eval: ${stale}`);
  let shown: unknown;
  let evalNs: number;
  if (values.entrypoint === DECISION_ENTRYPOINT) {
    // As the gateway decides: parsed, obligations checked, failures a deny with the reason.
    const evaluation = decide(engine, inputJson);
    shown = evaluation.decision;
    evalNs = evaluation.evalNs;
  } else {
    const started = process.hrtime.bigint();
    shown = engine.evaluate(values.entrypoint, inputJson);
    evalNs = Number(process.hrtime.bigint() - started);
  }
  console.log(
    JSON.stringify(
      { revision: engine.revision, eval_us: Math.round(evalNs / 1000), result: shown },
      null,
      2,
    ),
  );
  return 0;
}
