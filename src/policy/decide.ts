// The one place a decision is made: evaluate the entrypoint on the serialised input, parse
// the result strictly, check the obligations the gateway can carry out and type them, and
// turn every failure (no policy, an evaluation error, a malformed result) into a deny with
// its reason. The gateway's pipeline, its admin API, `mcpgate eval`, `mcpgate policy replay`
// and the benchmark all decide through here, so they cannot disagree.
import { deny, parseDecision, parseVisible, type Decision } from './decision.js';
import {
  DECISION_ENTRYPOINT,
  PolicyEvalError,
  VISIBLE_ENTRYPOINT,
  type PolicyEngine,
} from './engine.js';
import { policyInputJson, type PolicyInput } from './input.js';
import {
  checkObligations,
  NO_TYPED_OBLIGATIONS,
  type DecisionPhase,
  type TypedObligations,
} from './obligations.js';

/** What one evaluation produced, with what the decision log needs to record it. */
interface EvaluationRecord {
  /** The input exactly as the policy saw it (the decision log writes the same bytes). */
  readonly inputJson: string;
  /** The revision of the policy that decided ('' when none is loaded). */
  readonly revision: string;
  readonly evalNs: number;
  /** The engine that decided: its system.log.mask and drop apply to the log entry. */
  readonly engine: PolicyEngine | undefined;
  /** Why the evaluation failed (for the gateway's own log); undefined when it did not. */
  readonly error: string | undefined;
}

/** mcp/authz/decision: the decision and its typed obligations. */
export interface DecisionEvaluation extends EvaluationRecord {
  readonly decision: Decision;
  readonly obligations: TypedObligations;
}

/** mcp/authz/visible: the catalog ids a list shows (none when the evaluation failed). */
export interface VisibleEvaluation extends EvaluationRecord {
  readonly ids: ReadonlySet<string>;
}

const NO_POLICY = 'no policy is loaded, so every request is denied (see the gateway log)';

/** The input as the engine gets it: serialised once, session.history left out when unread. */
export function serialiseFor(engine: PolicyEngine | undefined, input: PolicyInput): string {
  return policyInputJson(input, engine?.omitsHistory === true);
}

/**
 * Decides one request with mcp/authz/decision. Never throws for a policy problem: a missing
 * policy, an evaluation failure or a malformed decision is a deny that says why.
 * `input` may be given already serialised (replay and eval pass a logged or hand-written
 * document as it is). `phase` says which obligations can be carried out: a result decision
 * (tools/result, ...) may redact, a request decision may not.
 */
export function decide(
  engine: PolicyEngine | undefined,
  input: PolicyInput | string,
  phase: DecisionPhase = 'call',
): DecisionEvaluation {
  const inputJson = typeof input === 'string' ? input : serialiseFor(engine, input);
  if (!engine) return denied(inputJson, '', NO_POLICY, undefined, 0, undefined);
  const started = process.hrtime.bigint();
  let raw: unknown;
  try {
    raw = engine.evaluate(DECISION_ENTRYPOINT, inputJson);
  } catch (err) {
    if (!(err instanceof PolicyEvalError)) throw err;
    const evalNs = Number(process.hrtime.bigint() - started);
    return denied(
      inputJson,
      engine.revision,
      `${err.message}; denied`,
      engine,
      evalNs,
      err.message,
    );
  }
  const { decision, obligations } = checkObligations(parseDecision(raw), phase);
  return {
    decision,
    obligations,
    inputJson,
    revision: engine.revision,
    evalNs: Number(process.hrtime.bigint() - started),
    engine,
    error: undefined,
  };
}

/**
 * A result the gateway refuses without asking the policy (it could not be inspected): the
 * evaluation record the decision log writes, with the input the policy would have seen.
 */
export function refusedByGateway(
  engine: PolicyEngine | undefined,
  input: PolicyInput,
  reason: string,
): DecisionEvaluation {
  return denied(serialiseFor(engine, input), engine?.revision ?? '', reason, engine, 0, undefined);
}

function denied(
  inputJson: string,
  revision: string,
  reason: string,
  engine: PolicyEngine | undefined,
  evalNs: number,
  error: string | undefined,
): DecisionEvaluation {
  return {
    decision: deny(reason),
    obligations: NO_TYPED_OBLIGATIONS,
    inputJson,
    revision,
    evalNs,
    engine,
    error,
  };
}

/** Decides what a list shows with mcp/authz/visible; any failure shows nothing. */
export function decideVisible(
  engine: PolicyEngine | undefined,
  input: PolicyInput,
): VisibleEvaluation {
  const inputJson = serialiseFor(engine, input);
  if (!engine) {
    return {
      ids: new Set(),
      inputJson,
      revision: '',
      evalNs: 0,
      engine,
      error: 'no policy is loaded',
    };
  }
  const started = process.hrtime.bigint();
  let ids: Set<string>;
  let error: string | undefined;
  try {
    ({ ids, error } = parseVisible(engine.evaluate(VISIBLE_ENTRYPOINT, inputJson)));
  } catch (err) {
    if (!(err instanceof PolicyEvalError)) throw err;
    ids = new Set();
    error = err.message;
  }
  return {
    ids,
    inputJson,
    revision: engine.revision,
    evalNs: Number(process.hrtime.bigint() - started),
    engine,
    error,
  };
}
