// Stage (tools/call, prompts/get, resources/read of a handshake-era client): a 2026-07-28
// upstream that needs the user answers with an InputRequiredResult (questions in
// `inputRequests`, its own `requestState`). A 2025-11-25 client cannot read that answer,
// but it can be asked the same questions the handshake way: each one goes through the
// chain of that question (elicitation/create, sampling/createMessage, roots/list: the
// session checked, the client's capability, the policy's decision with the upstream as
// the requester, the decision log, then the question on the call's own stream), exactly as
// a question a handshake-era upstream sends during a call. The answers go back to the
// upstream in a retry of the call (`inputResponses`, and the upstream's own state, which
// never leaves the gateway), up to MAX_INPUT_ROUNDS times; then the call is denied.
// A 2026-07-28 client is asked in the answer instead (stages/request-state.ts).
import type { UpstreamAskAction } from '../../policy/input.js';
import { eraOf } from '../../mcp/server/eras.js';
import { McpgateError } from '../../util/errors.js';
import { POLICY_DENIED, RpcError } from '../../mcp/jsonrpc/errors.js';
import { denyWith, type Stage, type StageOutcome } from '../chain.js';
import type { RequestContext } from '../context.js';
import { inputRequestsOf, isInputRequired, type InputRequired } from './request-state.js';

/**
 * Rounds of questions the gateway asks a handshake-era client for one call. An upstream
 * that still needs input after this many is denied: each round holds the call open and
 * puts the user through another question.
 */
export const MAX_INPUT_ROUNDS = 8;

/**
 * Asks the call's client one question of the upstream's through that question's chain;
 * resolves with the client's answer, rejects with why it could not be asked or was denied.
 */
export type AskForCall = (
  call: RequestContext,
  method: UpstreamAskAction,
  params: Record<string, unknown>,
) => Promise<unknown>;

export function askHandshakeClient(forward: Stage, ask: AskForCall): Stage {
  return {
    name: 'ask a 2025-11-25 client, then retry (MRTR)',
    when: 'allowed',
    // Synchronous for an ordinary result, and for a 2026-07-28 client: no promise per call.
    run(ctx: RequestContext) {
      if (!isInputRequired(ctx.result) || eraOf(ctx.protocolVersion) === 'stateless') {
        return undefined;
      }
      return rounds(ctx, ctx.result);
    },
  };

  async function rounds(ctx: RequestContext, first: InputRequired): Promise<StageOutcome> {
    const server = ctx.target?.server ?? '';
    if (!ctx.exchange) {
      return denyWith(
        'input_unsupported',
        `upstream ${server} needs input from the user first, and this request has no stream the gateway could ask the client on; call it again over Streamable HTTP (a POST that accepts text/event-stream)`,
      );
    }
    let result: InputRequired = first;
    for (let round = 1; ; round++) {
      const requests = inputRequestsOf(result, server);
      if ('refused' in requests) return denyWith('input_unsupported', requests.refused);
      const answers: Record<string, unknown> = {};
      for (const { key, method, params } of requests.list) {
        try {
          answers[key] = await ask(ctx, method, params);
        } catch (err) {
          if (!(err instanceof McpgateError)) throw err;
          if (err instanceof RpcError && err.rpcCode === POLICY_DENIED) {
            return denyWith(
              'policy',
              `upstream ${server} asked the user (${method}): ${err.message}`,
            );
          }
          return denyWith(
            'input_unsupported',
            `upstream ${server} needs input from the user first (${method}), and the gateway could not ask for it: ${err.message}`,
          );
        }
      }
      ctx.retry = {
        inputResponses: answers,
        upstreamState: typeof result.requestState === 'string' ? result.requestState : undefined,
      };
      ctx.result = undefined;
      const outcome = await forward.run(ctx);
      // An upstream that went down answers for itself (a tool error, or a JSON-RPC error).
      if (outcome !== undefined) return outcome;
      if (!isInputRequired(ctx.result)) return undefined;
      if (round === MAX_INPUT_ROUNDS) {
        return denyWith(
          'input_rounds',
          `upstream ${server} still needs input from the user after ${MAX_INPUT_ROUNDS} rounds of questions, the most the gateway asks for one call; denied`,
        );
      }
      result = ctx.result;
    }
  }
}
