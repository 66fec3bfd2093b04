// GET /doctor: what the gateway makes of the caller's own token, without opening a session.
// MCP clients often hide the gateway's answer (the MCP Inspector reports every 401 as an
// OAuth problem); `mcpgate doctor` asks here instead. A refused token gets the same 401 as
// /mcp, with the reason. An accepted one gets the identity as the policy sees it, the scopes
// /mcp requires and which the token lacks, and the policy's session/open decision for each
// purpose asked about (by default the one a session would get). Nothing is created, stored
// or written to the decision log: these are dry runs of a caller's own session/open, which
// the caller could try by opening a session anyway.
import { Router, type Request } from 'express';
import { callerOf, expressAuth, type Authenticate } from './guards/bearer-auth.js';
import { PURPOSE_CLAIM, PURPOSE_PATTERN } from './mcp-endpoint.js';
import { decide } from '../policy/decide.js';
import type { PolicyHolder } from '../policy/holder.js';
import { buildInput, hypotheticalSession } from '../policy/input.js';
import type { Logger } from '../util/logger.js';

export interface DoctorDeps {
  /** Authentication without the MCP scopes: a token that lacks them is reported, not refused. */
  authenticate: Authenticate;
  policy: PolicyHolder;
  gateway: { id: string; version: string };
  /** sessions.default_purpose: what a session gets when neither client nor token names one. */
  defaultPurpose: string;
  /** auth.required_scopes: what /mcp requires of a token. */
  requiredScopes: string[];
  logger: Logger;
}

/** Most purposes one request may ask about. */
export const DOCTOR_MAX_PURPOSES = 20;

/** The purposes asked about: `?purpose=a&purpose=b` or `?purpose=a,b`. */
function askedPurposes(req: Request): string[] {
  const raw = req.query.purpose;
  const values = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  const purposes = values
    .filter((v): v is string => typeof v === 'string')
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
  return [...new Set(purposes)];
}

export function doctorRouter(deps: DoctorDeps): Router {
  const router = Router();
  router.get('/doctor', expressAuth(deps.authenticate), (req: Request, res) => {
    const caller = callerOf(res);
    const identity = caller.identity;
    const asked = askedPurposes(req);
    const bad = asked.find((p) => !PURPOSE_PATTERN.test(p));
    if (bad !== undefined) {
      res.status(400).json({
        error: 'bad_request',
        message: `"${bad}" is not a purpose: 1-64 characters of A-Z a-z 0-9 . _ -`,
      });
      return;
    }
    if (asked.length > DOCTOR_MAX_PURPOSES) {
      res.status(400).json({
        error: 'bad_request',
        message: `at most ${DOCTOR_MAX_PURPOSES} purposes per request, got ${asked.length}`,
      });
      return;
    }
    // As /mcp picks a session's purpose when the client names none: the token's claim, else
    // the gateway's default.
    const claimed = identity.claims[PURPOSE_CLAIM];
    const purposes: Array<{ purpose: string; source: string }> =
      asked.length > 0
        ? asked.map((purpose) => ({ purpose, source: 'asked' }))
        : typeof claimed === 'string'
          ? [{ purpose: claimed, source: `the token's ${PURPOSE_CLAIM} claim` }]
          : [{ purpose: deps.defaultPurpose, source: 'sessions.default_purpose' }];
    const engine = deps.policy.current();
    const now = Date.now();
    const decisions = purposes.map(({ purpose, source }) => {
      const input = buildInput(
        'session/open',
        {
          identity,
          session: hypotheticalSession({ id: 'doctor', purpose, history: [], createdAt: now }),
          protocolVersion: undefined,
          gateway: deps.gateway,
        },
        undefined,
        now,
      );
      const { decision, obligations } = decide(engine, input);
      return {
        purpose,
        source,
        allow: decision.allow,
        reasons: decision.reasons,
        session_ttl_s: obligations.sessionTtlS ?? null,
      };
    });
    deps.logger.info('doctor answered', {
      subject: identity.subject,
      purposes: purposes.map((p) => p.purpose),
    });
    res.json({
      gateway: deps.gateway,
      policy: { revision: engine?.revision ?? null },
      identity: {
        issuer: identity.issuer,
        subject: identity.subject,
        user_id: identity.user_id,
        ...(identity.tenant === undefined ? {} : { tenant: identity.tenant }),
        client_id: identity.client_id,
        token_type: identity.token_type,
        groups: identity.groups,
        groups_overage: identity.groups_overage,
        roles: identity.roles,
        scopes: identity.scopes,
      },
      mcp_scopes: {
        required: deps.requiredScopes,
        missing: deps.requiredScopes.filter((s) => !identity.scopes.includes(s)),
      },
      purposes: decisions,
    });
  });
  return router;
}
