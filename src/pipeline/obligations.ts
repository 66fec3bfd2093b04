// Obligations are the policy's instructions attached to a decision. The gateway must carry
// out every obligation it is given; one it cannot carry out turns the decision into a deny
// (fail closed), never into a silently weaker allow.
import type { Decision } from '../policy/decision.js';

/** Obligations this gateway version can carry out, with their "nothing asked" value. */
function unsupportedObligations(decision: Decision): string[] {
  const o = decision.obligations;
  const unsupported: string[] = [];
  if (o.require_approval !== null) unsupported.push('require_approval');
  if (o.rate_limit !== null) unsupported.push('rate_limit');
  if (o.credential !== null) unsupported.push('credential');
  if (o.redact.length > 0) unsupported.push('redact');
  return unsupported;
}

export function enforceSupportedObligations(decision: Decision): Decision {
  if (!decision.allow) return decision;
  const unsupported = unsupportedObligations(decision);
  if (unsupported.length === 0) return decision;
  return {
    ...decision,
    allow: false,
    reasons: [
      ...decision.reasons,
      `the policy requires obligation(s) ${unsupported.join(', ')}, which this gateway cannot carry out yet; denied`,
    ],
  };
}
