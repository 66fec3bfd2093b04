// A RequestContext for stage and chain tests: a caller, and a session as the store loads it.
import { Caller } from '../../../src/identity/caller.js';
import type { Identity } from '../../../src/identity/identity.js';
import { RequestContext, type ChainMethod } from '../../../src/pipeline/context.js';
import {
  buildInput,
  type InputTarget,
  type PolicyAction,
  type SessionInput,
} from '../../../src/policy/input.js';

export function requestContext(action: ChainMethod = 'tools/call'): RequestContext {
  const caller = new Caller({ subject: 'u' } as Identity, undefined, 't');
  const session = {
    record: {
      id: 's',
      principal: 'p',
      subject: 'u',
      purpose: 'x',
      createdAt: 0,
      expiresAt: null,
      protocolVersion: '',
      clientInfo: null,
      clientCapabilities: {},
    },
    history: [],
    counters: { calls: 0, denied: 0 },
    rates: {},
  };
  return new RequestContext(action, 1, caller, session, undefined, {}, undefined, 0);
}

/** The policy input of `action` on `target` for this context's session, at time 0. */
export function policyInput(
  ctx: RequestContext,
  action: PolicyAction,
  target?: InputTarget,
): SessionInput {
  const facts = {
    identity: ctx.identity,
    session: ctx.session,
    protocolVersion: undefined,
    gateway: { id: 'g', version: '0' },
  };
  return buildInput(action, facts, target, 0);
}
