import { beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
// ajv is CommonJS; under NodeNext its default import types as the module namespace, so use
// the named class export (present at runtime too).
import { Ajv, type ValidateFunction } from 'ajv';
import type { JWTPayload } from 'jose';
import type { Identity } from '../../src/identity/identity.js';
import { createProfile } from '../../src/identity/profiles.js';

/** Claims normalized as a generic OIDC issuer entry would (profiles.test.ts covers each profile). */
function normalizeClaims(claims: JWTPayload, groupsClaim: string): Identity {
  return createProfile({
    profile: 'oidc',
    label: 'test',
    issuer: claims.iss ?? 'https://idp.example.com',
    discoveryIssuer: undefined,
    jwksUri: undefined,
    algorithms: ['RS256'],
    audiences: [],
    groupsClaim,
    requireAtJwt: true,
    jwksCooldownMs: 0,
    jwksMaxAgeMs: 1000,
    allowAppTokens: true,
    allowInsecureHttp: false,
  }).normalize(claims);
}
import {
  buildInput,
  policyInputJson,
  summaryOfHistory,
  type PolicyAction,
  type PolicyInput,
  type RequestFacts,
  type SessionInput,
} from '../../src/policy/input.js';
import { sessionPrincipal, type HistoryEntry } from '../../src/sessions/session.js';
import type { LoadedSession } from '../../src/sessions/store.js';
import { PACKAGE_ROOT } from '../../src/util/paths.js';

const GATEWAY = { id: 'gw-test', version: '9.9.9' };
const ACTIONS: PolicyAction[] = [
  'tools/call',
  'resources/read',
  'prompts/get',
  'tools/list',
  'resources/list',
  'resources/templates/list',
  'prompts/list',
];

function userIdentity(extra: Record<string, unknown> = {}): Identity {
  return normalizeClaims(
    {
      iss: 'https://idp.example.com',
      sub: 'user-1',
      aud: 'https://gw.example.com/mcp',
      client_id: 'app-1',
      scope: 'files:read files:write',
      groups: ['eng', 'oncall'],
      ...extra,
    },
    'groups',
  );
}

const CREATED_AT = Date.UTC(2025, 0, 1);

/** A session as the store hands it to a request. */
function newSession(purpose = 'code-review', history: HistoryEntry[] = []): LoadedSession {
  const denied = history.filter((h) => !h.allowed).length;
  return {
    record: {
      id: 'sess-1',
      principal: 'principal',
      subject: 'user-1',
      purpose,
      createdAt: CREATED_AT,
      expiresAt: null,
      protocolVersion: '2025-11-25',
      clientInfo: null,
      clientCapabilities: {},
    },
    history,
    summary: summaryOfHistory(history),
    counters: { calls: history.length, denied },
    rates: {},
  };
}

function facts(session: LoadedSession, identity: Identity = userIdentity()): RequestFacts {
  return { identity, session, protocolVersion: undefined, gateway: GATEWAY };
}

function entry(n: number, allowed = true): HistoryEntry {
  return {
    action: 'tools/call',
    target: `fs.tool${n}`,
    args_digest: 'a'.repeat(32),
    allowed,
    at_ns: Date.UTC(2025, 0, 1, 0, 0, n) * 1_000_000,
  };
}

/** What the policy receives: the input after the JSON round trip the pipeline does. */
function asJson(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

let validate: ValidateFunction;

beforeAll(() => {
  const schema = JSON.parse(
    readFileSync(join(PACKAGE_ROOT, 'rego/schema/input.json'), 'utf8'),
  ) as Record<string, unknown>;
  const ajv = new Ajv({ allErrors: true, strict: true });
  validate = ajv.compile(schema);
});

function schemaErrors(input: unknown): string[] {
  if (validate(input)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`);
}

describe('buildInput', () => {
  it('fills the required fields from the request facts', () => {
    const session = newSession();
    const now = CREATED_AT + 12_345;
    const identity = userIdentity();
    const input = buildInput('tools/call', facts(session, identity), undefined, now);
    expect(input).toEqual({
      action: 'tools/call',
      identity,
      session: {
        id: 'sess-1',
        purpose: 'code-review',
        age_s: 12,
        history: [],
        summary: { tools: {}, resources: {}, prompts: {} },
        labels: [],
        finding_counts: {},
        counters: { calls: 0, denied: 0, untracked: 0 },
      },
      findings: [],
      request: {
        time_ns: now * 1_000_000,
        time: new Date(now).toISOString(),
        gateway: GATEWAY,
      },
    });
  });

  it('leaves optional fields absent, not null, when unknown', () => {
    const input = asJson(buildInput('tools/list', facts(newSession()))) as Record<string, unknown>;
    for (const key of ['tool', 'resource', 'prompt', 'arguments', 'catalog']) {
      expect(Object.keys(input)).not.toContain(key);
    }
    const request = input.request as Record<string, unknown>;
    expect(Object.keys(request).sort()).toEqual(['gateway', 'time', 'time_ns']);
    const identity = input.identity as Record<string, unknown>;
    for (const key of ['tenant', 'auth_time', 'acr']) {
      expect(Object.keys(identity)).not.toContain(key);
    }
    expect(Object.keys(input.session as object)).not.toContain('ttl_s');
  });

  it('includes the protocol version and client info when known', () => {
    const session = newSession();
    session.record.clientInfo = { name: 'claude-code', version: '1.2.3' };
    const input = buildInput('tools/call', { ...facts(session), protocolVersion: '2025-06-18' });
    expect(input.request.protocol_version).toBe('2025-06-18');
    expect(input.request.client).toEqual({ name: 'claude-code', version: '1.2.3' });
  });

  it('puts the time in both forms, consistently', () => {
    const now = Date.UTC(2025, 5, 1, 12, 30, 45, 678);
    const input = buildInput('tools/call', facts(newSession()), undefined, now);
    expect(input.request.time).toBe('2025-06-01T12:30:45.678Z');
    // time_ns is past 2^53, but its JSON text (what the policy parses) is the exact value.
    expect(JSON.stringify(input.request.time_ns)).toBe(`${now}000000`);
  });

  it('passes the stored history and counters through, oldest first', () => {
    const session = newSession('code-review', [entry(1), entry(2, false)]);
    const input = buildInput('tools/call', facts(session));
    expect(input.session.history).toEqual([entry(1), entry(2, false)]);
    expect(input.session.counters).toEqual({ calls: 2, denied: 1, untracked: 0 });
  });

  it('shows the summary by kind of target, and its untracked calls as a counter', () => {
    const prompt: HistoryEntry = { ...entry(1), action: 'prompts/get' };
    const read: HistoryEntry = { ...entry(2, false), action: 'resources/read', target: 'fs:a' };
    const session = newSession('code-review', [entry(1), entry(1, false), entry(3), prompt, read]);
    session.summary = { ...summaryOfHistory(session.history), untracked: 4 };
    const input = buildInput('tools/call', facts(session));
    const at = (n: number): number => entry(n).at_ns;
    expect(input.session.summary).toEqual({
      // fs.tool1 as a tool and as a prompt: two targets, never mixed up.
      tools: {
        'fs.tool1': { allowed: 1, denied: 1, last_ns: at(1) },
        'fs.tool3': { allowed: 1, denied: 0, last_ns: at(3) },
      },
      resources: { 'fs:a': { allowed: 0, denied: 1, last_ns: at(2) } },
      prompts: { 'fs.tool1': { allowed: 1, denied: 0, last_ns: at(1) } },
    });
    expect(input.session.counters.untracked).toBe(4);
    expect(schemaErrors(asJson(input))).toEqual([]);
  });

  it('reads a session without a summary (session/open) as an empty one', () => {
    const session = newSession();
    delete session.summary;
    const input = buildInput('session/open', facts(session));
    expect(input.session.summary).toEqual({ tools: {}, resources: {}, prompts: {} });
    expect(input.session.counters.untracked).toBe(0);
  });

  it('shows each rate-limit window count to the policy as counters["rate:<rule>"]', () => {
    const session = newSession();
    session.rates = { session: 3, 'tool:fs.read': 1 };
    const input = buildInput('tools/call', facts(session));
    expect(input.session.counters).toEqual({
      calls: 0,
      denied: 0,
      untracked: 0,
      'rate:session': 3,
      'rate:tool:fs.read': 1,
    });
  });

  it('gives the policy-set lifetime as ttl_s', () => {
    const session = newSession();
    session.record.expiresAt = CREATED_AT + 3_600_000;
    expect(buildInput('tools/call', facts(session)).session.ttl_s).toBe(3600);
  });

  it('reports the session age in whole seconds', () => {
    const session = newSession();
    expect(buildInput('tools/call', facts(session), undefined, CREATED_AT).session.age_s).toBe(0);
    expect(
      buildInput('tools/call', facts(session), undefined, CREATED_AT + 999).session.age_s,
    ).toBe(0);
    expect(
      buildInput('tools/call', facts(session), undefined, CREATED_AT + 61_000).session.age_s,
    ).toBe(61);
  });
});

describe('policyInputJson: the input as the policy in force gets it', () => {
  const withHistory = (): SessionInput => {
    const input = buildInput(
      'tools/call',
      facts(newSession('code-review', [entry(2, false), entry(3)])),
    );
    input.tool = {
      server: 'fs',
      name: 'read',
      id: 'fs.read',
      annotations: {},
      definition_hash: 'h',
      pin: { state: 'pinned' },
      findings: [],
    };
    input.arguments = { path: 'a' };
    return input;
  };

  it('is the whole input for a policy that may read the history', () => {
    const input = withHistory();
    expect(policyInputJson(input, false)).toBe(JSON.stringify(input));
    expect(
      (JSON.parse(policyInputJson(input, false)) as PolicyInput).session?.history,
    ).toHaveLength(2);
  });

  it('leaves out only session.history for a policy that provably never reads it', () => {
    const input = withHistory();
    const sent = JSON.parse(policyInputJson(input, true)) as Record<string, unknown>;
    const { history, ...session } = input.session;
    expect(history).toHaveLength(2);
    expect(sent).toEqual({ ...(asJson(input) as object), session: asJson(session) });
    expect(Object.keys(sent.session as object)).not.toContain('history');
    // The input object itself is left as it was.
    expect(input.session.history).toHaveLength(2);
    expect(schemaErrors(sent)).toEqual([]);
  });

  it('leaves an input without a session (admin actions) as it is', () => {
    const admin: PolicyInput = {
      action: 'admin/sessions/list',
      identity: userIdentity(),
      admin: {},
      findings: [],
      request: { time_ns: 1, time: 'now', gateway: GATEWAY },
    };
    expect(policyInputJson(admin, true)).toBe(JSON.stringify(admin));
  });
});

describe('buildInput documents match rego/schema/input.json', () => {
  it('validates a minimal input for every action', () => {
    for (const action of ACTIONS) {
      expect(schemaErrors(asJson(buildInput(action, facts(newSession()))))).toEqual([]);
    }
  });

  it('validates an input with every optional field filled', () => {
    const session = newSession('code-review', [entry(2, false), entry(3)]);
    session.record.clientInfo = { name: 'client', version: '0.1' };
    session.record.expiresAt = CREATED_AT + 60_000;
    session.rates = { session: 1 };
    const identity = userIdentity({
      tid: 'tenant-1',
      auth_time: 1_700_000_000,
      acr: 'urn:mfa',
      amr: ['pwd', 'otp'],
      roles: ['admin'],
    });
    const input = buildInput('tools/call', {
      identity,
      session,
      protocolVersion: '2025-06-18',
      gateway: GATEWAY,
    });
    input.tool = {
      server: 'fs',
      name: 'read_file',
      id: 'fs.read_file',
      annotations: { readOnlyHint: true, title: 'Read' },
      definition_hash: 'b'.repeat(64),
      pin: { state: 'changed', changed: ['description'], since: 'pin' },
      findings: [{ detector: 'instruction.tag', severity: 'high', field: 'description' }],
    };
    input.arguments = { path: '/tmp/a', nested: { n: [1, 2] } };
    expect(schemaErrors(asJson(input))).toEqual([]);
  });

  it('validates resource, prompt and catalog inputs', () => {
    const read = buildInput('resources/read', facts(newSession()));
    read.resource = { server: 'fs', uri: 'file:///a', id: 'fs:file:///a' };
    expect(schemaErrors(asJson(read))).toEqual([]);
    read.resource = { ...read.resource, pin: { state: 'pending' }, findings: [] };
    expect(schemaErrors(asJson(read))).toEqual([]);

    const prompt = buildInput('prompts/get', facts(newSession()));
    prompt.prompt = {
      server: 'fs',
      name: 'review',
      id: 'fs.review',
      pin: { state: 'pinned', acknowledged: ['url.http'] },
      findings: [{ detector: 'url.http', severity: 'low', field: 'description' }],
    };
    prompt.arguments = {};
    expect(schemaErrors(asJson(prompt))).toEqual([]);

    const list = buildInput('tools/list', facts(newSession()));
    list.catalog = [
      { kind: 'tool', id: 'fs.read', server: 'fs', name: 'read', annotations: {} },
      { kind: 'resource', id: 'fs:file:///a', server: 'fs', uri: 'file:///a' },
      {
        kind: 'tool',
        id: 'fs.write',
        server: 'fs',
        name: 'write',
        pin: { state: 'changed', changed: ['inputSchema'], since: 'first_seen' },
        findings: [{ detector: 'unicode.tag', severity: 'high', field: 'description' }],
      },
    ];
    expect(schemaErrors(asJson(list))).toEqual([]);
    const badPin = asJson(list) as { catalog: Array<Record<string, unknown>> };
    (badPin.catalog[2] as Record<string, unknown>).pin = { state: 'approved' };
    expect(schemaErrors(badPin)).not.toEqual([]);

    // session/open with the upstreams' instructions, for the visible decision.
    const open = buildInput('session/open', facts(newSession()), {
      catalog: [{ kind: 'instruction', id: 'fs', server: 'fs' }],
    });
    expect(schemaErrors(asJson(open))).toEqual([]);
    const wrongKind = asJson(open) as Record<string, unknown>;
    wrongKind.catalog = [{ kind: 'notes', id: 'fs', server: 'fs' }];
    expect(schemaErrors(wrongKind)).not.toEqual([]);
  });

  it('validates an app identity with no subject', () => {
    const identity = normalizeClaims({ iss: 'https://idp.example.com', azp: 'svc' }, 'groups');
    expect(schemaErrors(asJson(buildInput('tools/call', facts(newSession(), identity))))).toEqual(
      [],
    );
  });

  it('the schema itself refuses null optionals and unknown fields (so the checks above mean something)', () => {
    const input = asJson(buildInput('tools/call', facts(newSession()))) as Record<string, unknown>;
    const identity = input.identity as Record<string, unknown>;
    expect(schemaErrors({ ...input, identity: { ...identity, tenant: null } })).not.toEqual([]);
    expect(schemaErrors({ ...input, extra: 1 })).not.toEqual([]);
    expect(schemaErrors({ ...input, action: 'tools/delete' })).not.toEqual([]);
    const request = input.request as Record<string, unknown>;
    expect(schemaErrors({ ...input, request: { ...request, protocol_version: null } })).not.toEqual(
      [],
    );
  });
});

describe('sessionPrincipal', () => {
  it('distinguishes the same subject at two issuers', () => {
    const a = sessionPrincipal(normalizeClaims({ iss: 'https://a', sub: 'u' }, 'groups'));
    const b = sessionPrincipal(normalizeClaims({ iss: 'https://b', sub: 'u' }, 'groups'));
    expect(a).not.toBe(b);
    expect(sessionPrincipal(normalizeClaims({ iss: 'https://a', sub: 'u' }, 'groups'))).toBe(a);
  });

  it('cannot be forged by moving characters between issuer and subject', () => {
    const a = sessionPrincipal(normalizeClaims({ iss: 'https://a/x', sub: 'y' }, 'groups'));
    const b = sessionPrincipal(normalizeClaims({ iss: 'https://a', sub: 'x/y' }, 'groups'));
    expect(a).not.toBe(b);
  });
});
