import { describe, expect, it } from '@jest/globals';
import {
  deny,
  NO_OBLIGATIONS,
  parseDecision,
  parseVisible,
  type Decision,
} from '../../src/policy/decision.js';
import { checkObligations, enforceSupportedObligations } from '../../src/policy/obligations.js';
import { only } from './support/errors.js';

const NONE = {
  require_approval: null,
  rate_limit: null,
  credential: null,
  redact: [],
  terminate_session: false,
  session_ttl_s: null,
};

/** Asserts a deny with exactly one reason and returns that reason. */
function denyReason(decision: Decision): string {
  expect(decision.allow).toBe(false);
  return only(decision.reasons);
}

describe('parseDecision: well-formed decisions', () => {
  it('accepts an allow with reasons and no obligations', () => {
    expect(parseDecision({ allow: true, reasons: ['reader'] })).toEqual({
      allow: true,
      reasons: ['reader'],
      obligations: NONE,
    });
  });

  it('accepts an allow with no reasons and an empty obligations object', () => {
    expect(parseDecision({ allow: true, obligations: {} })).toEqual({
      allow: true,
      reasons: [],
      obligations: NONE,
    });
  });

  it('keeps the reasons of a deny', () => {
    expect(parseDecision({ allow: false, reasons: ['a', 'b'] })).toEqual({
      allow: false,
      reasons: ['a', 'b'],
      obligations: NONE,
    });
  });

  it('gives a deny without reasons a default reason', () => {
    for (const raw of [{ allow: false }, { allow: false, reasons: [] }]) {
      expect(denyReason(parseDecision(raw))).toBe('denied by policy (the policy gave no reason)');
    }
  });

  it('carries every known obligation through', () => {
    const decision = parseDecision({
      allow: true,
      reasons: [],
      obligations: {
        require_approval: { approvers: ['sec'] },
        rate_limit: { per_minute: 5 },
        credential: 'github',
        redact: ['$.token'],
        terminate_session: true,
        session_ttl_s: 900,
      },
    });
    expect(decision.obligations).toEqual({
      require_approval: { approvers: ['sec'] },
      rate_limit: { per_minute: 5 },
      credential: 'github',
      redact: ['$.token'],
      terminate_session: true,
      session_ttl_s: 900,
    });
  });

  it.each([[0], [-5], ['3600'], [Number.NaN]])('refuses session_ttl_s %p', (ttl) => {
    const decision = parseDecision({
      allow: true,
      reasons: [],
      obligations: { session_ttl_s: ttl },
    });
    expect(decision.allow).toBe(false);
    expect(decision.reasons[0]).toContain('"session_ttl_s" must be a positive number of seconds');
  });

  it('does not share the obligations object between denies', () => {
    const one = deny('x');
    one.obligations.redact.push('mutated');
    expect(deny('y').obligations.redact).toEqual([]);
    expect(NO_OBLIGATIONS.redact).toEqual([]);
  });
});

describe('parseDecision: malformed decisions become denies that say why', () => {
  it('denies an undefined decision, saying it was undefined', () => {
    const reason = denyReason(parseDecision(undefined));
    expect(reason).toContain('undefined');
    expect(reason).toContain('mcp/authz/decision');
  });

  it.each([
    ['null', null],
    ['a boolean', true],
    ['a string', 'allow'],
    ['a number', 1],
    ['an array', [{ allow: true }]],
  ])('denies %s: not an object', (_what, raw) => {
    expect(denyReason(parseDecision(raw))).toContain('not an object');
  });

  it.each([
    ['missing', {}],
    ['a string', { allow: 'true' }],
    ['a number', { allow: 1 }],
    ['null', { allow: null }],
    ['a list', { allow: [true] }],
  ])('denies an "allow" that is %s', (_what, raw) => {
    expect(denyReason(parseDecision(raw))).toContain('"allow" must be true or false');
  });

  it.each([
    ['a string', { allow: true, reasons: 'ok' }],
    ['a list with a number', { allow: true, reasons: ['ok', 1] }],
    ['a list with an object', { allow: false, reasons: [{ msg: 'x' }] }],
    ['an object', { allow: true, reasons: { a: 'b' } }],
  ])('denies "reasons" that are %s', (_what, raw) => {
    expect(denyReason(parseDecision(raw))).toContain('"reasons" must be a list of strings');
  });

  it.each([
    ['a list', []],
    ['a string', 'none'],
    ['true', true],
  ])('denies "obligations" that are %s', (_what, obligations) => {
    expect(denyReason(parseDecision({ allow: true, obligations }))).toContain(
      '"obligations" must be an object',
    );
  });

  it('denies unknown obligation keys, naming them', () => {
    const reason = denyReason(
      parseDecision({ allow: true, obligations: { log_level: 'debug', notify: true, redact: [] } }),
    );
    expect(reason).toContain('unknown obligation(s) log_level, notify');
  });

  it('denies an unknown obligation even on a deny (the policy is broken)', () => {
    const reason = denyReason(
      parseDecision({ allow: false, reasons: ['x'], obligations: { typo_redact: ['a'] } }),
    );
    expect(reason).toContain('typo_redact');
  });

  it.each([
    ['a string', '$.token'],
    ['a list with a number', ['$.a', 2]],
    ['an object', { path: '$.a' }],
  ])('denies a "redact" obligation that is %s', (_what, redact) => {
    expect(denyReason(parseDecision({ allow: true, obligations: { redact } }))).toContain(
      'obligation "redact" must be a list of strings',
    );
  });

  it.each([
    ['a string', 'true'],
    ['a number', 1],
    ['an object', { now: true }],
  ])('denies a "terminate_session" obligation that is %s', (_what, terminate_session) => {
    expect(
      denyReason(parseDecision({ allow: true, obligations: { terminate_session } })),
    ).toContain('"terminate_session" must be true or false');
  });

  it('never turns a malformed allow into an allow', () => {
    const malformed: unknown[] = [
      { allow: 'yes' },
      { allow: true, reasons: [1] },
      { allow: true, obligations: [] },
      { allow: true, obligations: { extra: 1 } },
      { allow: true, obligations: { redact: 'x' } },
      { allow: true, obligations: { terminate_session: 'no' } },
    ];
    for (const raw of malformed) {
      expect(parseDecision(raw).allow).toBe(false);
    }
  });
});

describe('parseVisible', () => {
  it('accepts a list of strings as a set of ids', () => {
    const { ids, error } = parseVisible(['fs.read', 'fs:file:///a', 'fs.read']);
    expect(error).toBeUndefined();
    expect([...ids].sort()).toEqual(['fs.read', 'fs:file:///a']);
  });

  it('accepts an empty list', () => {
    expect(parseVisible([])).toEqual({ ids: new Set() });
  });

  it('shows nothing when visible is undefined, saying so', () => {
    const { ids, error } = parseVisible(undefined);
    expect(ids.size).toBe(0);
    expect(error).toContain('undefined');
  });

  it.each([
    ['an object', { 'fs.read': true }],
    ['a string', 'fs.read'],
    ['a list with a number', ['fs.read', 1]],
    ['true', true],
  ])('shows nothing when visible is %s', (_what, raw) => {
    const { ids, error } = parseVisible(raw);
    expect(ids.size).toBe(0);
    expect(error).toBe('mcp/authz/visible must be a set of strings');
  });
});

describe('enforceSupportedObligations', () => {
  const allow = (obligations: Record<string, unknown>): Decision =>
    parseDecision({ allow: true, reasons: ['granted'], obligations });

  it('passes an allow without obligations through unchanged', () => {
    const decision = allow({});
    expect(enforceSupportedObligations(decision)).toBe(decision);
  });

  it('passes terminate_session through on an allow', () => {
    const decision = allow({ terminate_session: true, redact: [] });
    const enforced = enforceSupportedObligations(decision);
    expect(enforced.allow).toBe(true);
    expect(enforced.obligations.terminate_session).toBe(true);
    expect(enforced.reasons).toEqual(['granted']);
  });

  it.each([['a non-empty redact', 'redact', { redact: ['$.secret'] }]])(
    'turns an allow with %s into a deny naming it',
    (_what, name, obligations) => {
      const enforced = enforceSupportedObligations(allow(obligations));
      expect(enforced.allow).toBe(false);
      // Only the reason for the denial: the allow's own notes would confuse it.
      expect(enforced.reasons).toHaveLength(1);
      expect(enforced.reasons[0]).toContain(`obligation(s) ${name},`);
      expect(enforced.reasons[0]).toContain('cannot carry out');
    },
  );

  it('names every problem at once', () => {
    const enforced = enforceSupportedObligations(allow({ require_approval: {}, redact: ['x'] }));
    expect(enforced.allow).toBe(false);
    expect(enforced.reasons.join('\n')).toContain('obligation(s) redact,');
    expect(enforced.reasons.join('\n')).toContain('require_approval.reason must be');
  });

  it('carries out a well-formed require_approval obligation (the call is held)', () => {
    const decision = allow({
      require_approval: {
        reason: 'destructive',
        approvers: { roles: ['mcpgate.approver'] },
        timeout_s: 60,
      },
    });
    expect(enforceSupportedObligations(decision).allow).toBe(true);
    expect(checkObligations(decision).obligations.approval).toEqual({
      reason: 'destructive',
      approvers: { roles: ['mcpgate.approver'], groups: [] },
      self: false,
      timeout_s: 60,
    });
  });

  it.each([
    // Any non-null value is a request, even false: the gateway cannot tell what it means.
    [false, 'require_approval must be an object'],
    [{ approvers: ['lead'] }, 'require_approval.reason must be a non-empty string'],
    [{ reason: 'x', approvers: ['lead'] }, 'require_approval.approvers must be an object'],
    [{ reason: 'x', approvers: { roles: [] } }, 'names nobody who may approve'],
    [{ reason: 'x', self: 'yes' }, 'require_approval.self must be true or false'],
    [{ reason: 'x', self: true, timeout_s: 0 }, 'require_approval.timeout_s must be a positive'],
    [{ reason: 'x', self: true, when: 'now' }, 'unknown field(s) when'],
    [{ reason: 'x', approvers: { users: ['a'] } }, 'approvers has unknown field(s) users'],
  ])('denies a malformed require_approval obligation %p', (requireApproval, problem) => {
    const enforced = enforceSupportedObligations(allow({ require_approval: requireApproval }));
    expect(enforced.allow).toBe(false);
    expect(enforced.reasons.join(' ')).toContain(problem);
    expect(enforced.reasons.join(' ')).toContain('malformed obligation');
  });

  it('carries out a well-formed credential obligation (the broker scopes the token)', () => {
    const decision = allow({
      credential: { audience: 'https://api.example', scopes: ['repo:read'] },
    });
    expect(enforceSupportedObligations(decision).allow).toBe(true);
  });

  it.each([
    ['github-app', 'credential must be an object'],
    [{ scopes: 'repo:read' }, 'credential.scopes must be a list'],
    [{ audience: 5 }, 'credential.audience must be a string'],
    [{ scopes: ['repo:read'], token: 'x' }, 'unknown field(s) token'],
    [{ scopes: [] }, 'credential.scopes must not be empty'],
  ])('denies a malformed credential obligation %p', (credential, problem) => {
    const enforced = enforceSupportedObligations(allow({ credential }));
    expect(enforced.allow).toBe(false);
    expect(enforced.reasons.join(' ')).toContain(problem);
  });

  it('carries out a well-formed rate_limit obligation (the store counts it)', () => {
    const decision = allow({ rate_limit: { limit: 5, window_s: 60, per: 'tool' } });
    expect(enforceSupportedObligations(decision).allow).toBe(true);
  });

  it.each([
    [{ per_minute: 10 }, 'rate_limit.limit'],
    [{ limit: 0, window_s: 60, per: 'user' }, 'rate_limit.limit'],
    [{ limit: 5, window_s: 0, per: 'user' }, 'rate_limit.window_s'],
    [{ limit: 5, window_s: 60, per: 'tenant' }, 'rate_limit.per'],
    ['5/min', 'rate_limit must be an object'],
  ])('denies a malformed rate_limit obligation %p', (rateLimit, problem) => {
    const enforced = enforceSupportedObligations(allow({ rate_limit: rateLimit }));
    expect(enforced.allow).toBe(false);
    expect(enforced.reasons.join(' ')).toContain(problem);
    expect(enforced.reasons.join(' ')).toContain('malformed obligation');
  });

  it('treats null obligations and an empty redact list as nothing asked', () => {
    const decision = allow({
      require_approval: null,
      rate_limit: null,
      credential: null,
      redact: [],
    });
    expect(enforceSupportedObligations(decision).allow).toBe(true);
  });

  it('leaves a deny alone, whatever its obligations', () => {
    const decision = parseDecision({
      allow: false,
      reasons: ['no'],
      obligations: { require_approval: {}, terminate_session: true },
    });
    expect(enforceSupportedObligations(decision)).toBe(decision);
  });

  it('does not modify the decision it was given', () => {
    const decision = allow({ credential: 'x' });
    enforceSupportedObligations(decision);
    expect(decision.allow).toBe(true);
    expect(decision.reasons).toEqual(['granted']);
  });
});

describe('result decisions: label_session, redact and the obligations a result cannot carry', () => {
  const allowWith = (obligations: Record<string, unknown>) =>
    parseDecision({ allow: true, reasons: ['ok'], obligations });

  it('parses label_session when given, and leaves it out when not', () => {
    expect(allowWith({ label_session: ['secret', 'pii'] }).obligations.label_session).toEqual([
      'secret',
      'pii',
    ]);
    expect('label_session' in allowWith({}).obligations).toBe(false);
  });

  it('refuses malformed labels', () => {
    for (const labels of [
      'secret',
      [1],
      ['Has Space'],
      Array.from({ length: 17 }, (_, i) => `l${i}`),
    ]) {
      const d = allowWith({ label_session: labels });
      expect(d.allow).toBe(false);
      expect(d.reasons[0]).toContain('"label_session" must be a list of at most 16 labels');
    }
  });

  it('carries out redact and labels on a result, types them', () => {
    const { decision, obligations } = checkObligations(
      allowWith({ redact: ['f1', '/content/0/text'], label_session: ['secret'] }),
      'result',
    );
    expect(decision.allow).toBe(true);
    expect(obligations.redact).toEqual(['f1', '/content/0/text']);
    expect(obligations.labels).toEqual(['secret']);
  });

  it('denies a result that needs an approval, saying approvals are not available yet', () => {
    const { decision } = checkObligations(
      allowWith({ require_approval: { approvers: ['sec'] } }),
      'result',
    );
    expect(decision).toMatchObject({
      allow: false,
      reasons: [
        'the policy requires an approval before this result is shown, and only calls can be held for approval, not their results; denied',
      ],
    });
  });

  it('denies a result given call obligations, and a call given redact', () => {
    const onResult = checkObligations(
      allowWith({ rate_limit: { limit: 1, window_s: 1, per: 'user' } }),
      'result',
    );
    expect(onResult.decision.reasons).toEqual([
      'the policy gave the obligation(s) rate_limit on a result, where they do not apply; denied',
    ]);
    const onCall = checkObligations(allowWith({ redact: ['f1'] }), 'call');
    expect(onCall.decision.allow).toBe(false);
    expect(onCall.decision.reasons[0]).toContain('redact');
  });
});
