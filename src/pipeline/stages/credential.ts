// Stage: the credential this allowed call runs with, scoped as the policy's credential
// obligation says (audience, scopes), from the credential broker, the only place upstream
// credentials exist. No credential, no call: a failure turns the allow into a deny that
// says why (and carries Entra's claims challenge when the IdP asks for a step-up).
import {
  CredentialError,
  type Credential,
  type CredentialBroker,
} from '../../credentials/broker.js';
import type { UpstreamRegistry } from '../../upstreams/registry.js';
import { denyWith, type Stage, type StageOutcome } from '../chain.js';
import type { RequestContext } from '../context.js';

/** The static secret a stdio child got in its environment at start: nothing per call. */
const STARTED_WITH_SECRET: Credential = { headers: {}, facts: { kind: 'static-secret' } };
const NO_CREDENTIAL: Credential = { headers: {}, facts: { kind: 'none' } };

export function issueCredential(registry: UpstreamRegistry, broker: CredentialBroker): Stage {
  const credentialFor = (ctx: RequestContext, server: string): Promise<Credential> | Credential => {
    const obligation = ctx.obligations.credential;
    const upstream = registry.configFor(server);
    const config = upstream?.credential;
    if (config?.type === 'static-secret' && upstream?.transport === 'stdio' && !obligation) {
      return STARTED_WITH_SECRET;
    }
    if (!config || config.type === 'none') {
      if (obligation !== undefined) {
        throw new CredentialError(
          `the policy requires a scoped credential, but upstream ${server} has no credential configured`,
        );
      }
      return NO_CREDENTIAL;
    }
    const { identity } = ctx;
    return broker.forCall(
      server,
      config,
      {
        sessionId: ctx.session.record.id,
        sessionExpiresAt: ctx.session.record.expiresAt,
        subjectToken: ctx.caller.subjectToken,
        issuer: identity.issuer,
        subject: identity.subject,
        clientId: identity.client_id,
        tokenType: identity.token_type,
      },
      obligation,
    );
  };

  const refused = (err: unknown): StageOutcome => {
    if (!(err instanceof CredentialError)) throw err;
    return err.claimsChallenge === undefined
      ? denyWith('credential', `${err.message}; denied`)
      : denyWith('credential', `${err.message}; denied`, {
          claimsChallenge: err.claimsChallenge,
        });
  };

  return {
    name: 'credential for this call',
    when: 'allowed',
    run(ctx: RequestContext) {
      const server = ctx.target?.server;
      if (server === undefined) throw new Error('credential ran before the target was resolved');
      let credential: Credential | Promise<Credential>;
      try {
        credential = credentialFor(ctx, server);
      } catch (err) {
        return refused(err);
      }
      // No credential configured (the common case) needs no promise, so no extra tick.
      if (!(credential instanceof Promise)) {
        ctx.credential = credential;
        return undefined;
      }
      return credential.then((issued) => {
        ctx.credential = issued;
        return undefined;
      }, refused);
    },
  };
}
