// Stages of multi round-trip requests (MRTR, MCP 2026-07-28) for tools/call, prompts/get and
// resources/read: an upstream that needs the user answers with an InputRequiredResult, and
// the client retries the call with its answers and the requestState it was given.
//
// - `checkRequestState`, before the decision: a retry's requestState must be one the
//   gateway sealed for this session and this very call, not expired, and never used before
//   (its nonce is claimed in the session store, so a replay fails on every replica);
//   otherwise the retry is refused (INVALID_PARAMS) with the reason. What the upstream gets back is
//   its own state, which the client never saw.
// - `passInputRequired`, after the call: each question of an InputRequiredResult is decided
//   as the same question asked the handshake way would be (elicitation/create,
//   sampling/createMessage, roots/list with the upstream as the requester); if all are
//   allowed, the result goes to a 2026-07-28 client with the gateway's sealed state in place
//   of the upstream's. A client of the handshake era is asked the questions as requests on
//   the call's stream instead, before this stage (stages/ask-for-input.ts).
import { INVALID_PARAMS } from '../../mcp/jsonrpc/codes.js';
import { RpcError } from '../../mcp/jsonrpc/errors.js';
import { eraOf } from '../../mcp/server/eras.js';
import { STATE_LIFETIME_MS, type RequestStates } from '../../mcp/server/request-state.js';
import { StoreUnavailableError, type SessionStore } from '../../sessions/store.js';
import type { Decision } from '../../policy/decision.js';
import type { UpstreamAskAction } from '../../policy/input.js';
import { canonicalJson, sha256Hex } from '../../util/canonical-json.js';
import { denyWith, type Stage, type StageOutcome } from '../chain.js';
import type { RequestContext } from '../context.js';

/** What a sealed state is bound to: this session, this call, these arguments. */
function binding(ctx: RequestContext): { session: string; call: string; args: string } {
  const target = ctx.target;
  if (!target) throw new Error('the requestState stages run after the target is resolved');
  return {
    session: ctx.session.record.id,
    call: `${ctx.action} ${target.id}`,
    args: sha256Hex(canonicalJson(ctx.args ?? {})).slice(0, 32),
  };
}

export function checkRequestState(states: RequestStates, store: SessionStore): Stage {
  return {
    name: 'check a returned requestState (MRTR)',
    when: 'always',
    // Synchronous when there is nothing to check (every call but a retry): no promise per call.
    run(ctx: RequestContext) {
      const { requestState, inputResponses } = ctx.params;
      if (requestState === undefined && inputResponses === undefined) return undefined;
      return check(ctx, requestState, inputResponses);
    },
  };

  async function check(
    ctx: RequestContext,
    requestState: unknown,
    inputResponses: unknown,
  ): Promise<StageOutcome> {
    if (requestState === undefined) {
      // The upstream asked without a state of its own: nothing to check but the answers' shape.
      ctx.retry = { inputResponses, upstreamState: undefined };
      return undefined;
    }
    if (typeof requestState !== 'string') {
      throw new RpcError(INVALID_PARAMS, 'requestState must be the string the gateway gave');
    }
    const opened = states.open(requestState, binding(ctx));
    if ('refused' in opened) throw new RpcError(INVALID_PARAMS, opened.refused);
    let first: boolean;
    try {
      first = await store.claimOnce(opened.nonce, opened.expiresAt + STATE_LIFETIME_MS);
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      return denyWith('store_unavailable', `${err.message}; the retry was denied (fail closed)`);
    }
    if (!first) {
      throw new RpcError(
        INVALID_PARAMS,
        'requestState was already used: each one is good for one retry; call again without it to be asked afresh',
      );
    }
    ctx.retry = { inputResponses, upstreamState: opened.upstream ?? undefined };
    return undefined;
  }
}

/** An upstream's answer that asks for input first (2026-07-28). */
export interface InputRequired {
  resultType: 'input_required';
  inputRequests?: unknown;
  requestState?: unknown;
}

export function isInputRequired(result: unknown): result is InputRequired {
  return (
    typeof result === 'object' &&
    result !== null &&
    (result as { resultType?: unknown }).resultType === 'input_required'
  );
}

/** One question of an InputRequiredResult, under the upstream's key for it. */
export interface InputRequest {
  key: string;
  method: UpstreamAskAction;
  params: Record<string, unknown>;
}

/** The questions of an InputRequiredResult, or why the gateway does not pass them on. */
export function inputRequestsOf(
  result: InputRequired,
  server: string,
): { list: InputRequest[] } | { refused: string } {
  const requests = result.inputRequests;
  if (requests !== undefined && (typeof requests !== 'object' || requests === null)) {
    return { refused: `upstream ${server} sent inputRequests that are not an object; denied` };
  }
  const list: InputRequest[] = [];
  for (const [key, request] of Object.entries((requests ?? {}) as Record<string, unknown>)) {
    const { method, params } = (request ?? {}) as { method?: unknown; params?: unknown };
    if (typeof method !== 'string' || !ASKS.has(method)) {
      return {
        refused: `upstream ${server} asked for input ${JSON.stringify(key)} of a kind the gateway does not pass on (${String(method)}); denied`,
      };
    }
    const fields = typeof params === 'object' && params !== null ? params : {};
    list.push({
      key,
      method: method as UpstreamAskAction,
      params: fields as Record<string, unknown>,
    });
  }
  return { list };
}

/** Decides one question of an upstream to the user, as its chain of the handshake era would. */
export type DecideInputRequest = (
  call: RequestContext,
  method: UpstreamAskAction,
  params: Record<string, unknown>,
) => Promise<Decision>;

const ASKS: ReadonlySet<string> = new Set<UpstreamAskAction>([
  'elicitation/create',
  'sampling/createMessage',
  'roots/list',
]);

export function passInputRequired(states: RequestStates, decide: DecideInputRequest): Stage {
  return {
    name: 'decide and pass an InputRequiredResult on (MRTR)',
    when: 'allowed',
    // Synchronous for an ordinary result: no promise per call.
    run(ctx: RequestContext) {
      return isInputRequired(ctx.result) ? passOn(ctx, ctx.result) : undefined;
    },
  };

  async function passOn(ctx: RequestContext, result: InputRequired): Promise<StageOutcome> {
    const server = ctx.target?.server ?? '';
    // A handshake-era client was asked already, round by round (stages/ask-for-input.ts).
    if (eraOf(ctx.protocolVersion) !== 'stateless') {
      throw new Error(
        'an InputRequiredResult for a handshake-era client reached passInputRequired',
      );
    }
    const requests = inputRequestsOf(result, server);
    if ('refused' in requests) return denyWith('input_unsupported', requests.refused);
    for (const { method, params } of requests.list) {
      const decision = await decide(ctx, method, params);
      if (!decision.allow) {
        return denyWith(
          'policy',
          `upstream ${server} asked the user (${method}) and the policy refused it: ${decision.reasons.join('; ')}`,
        );
      }
    }
    const upstream = typeof result.requestState === 'string' ? result.requestState : null;
    const requestState = states.seal({ ...binding(ctx), upstream });
    const answer: Record<string, unknown> = { resultType: 'input_required', requestState };
    if (result.inputRequests !== undefined) answer.inputRequests = result.inputRequests;
    return { respond: answer };
  }
}
