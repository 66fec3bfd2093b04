// The inputs of the decision benchmarks (decision-worker.mjs, tools/decision-ab.mjs): the
// code-review purpose's cases of rego/tests/cases.json, each as the gateway would send it
// after n earlier calls of its session.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './servers.mjs';

const { DECISION_ENTRYPOINT, MemoryStore, buildInput, ARGS_DIGEST_HEX } = await import('mcpgate');

/** The decision cases of the code-review purpose that carry an identity. */
export function benchCases() {
  const { cases } = JSON.parse(readFileSync(join(ROOT, 'rego/tests/cases.json'), 'utf8'));
  return cases.filter(
    (c) =>
      c.entrypoint === DECISION_ENTRYPOINT &&
      c.input?.session?.purpose === 'code-review' &&
      c.input?.identity !== undefined,
  );
}

const TARGETS = [
  'filesystem.read_file',
  'filesystem.list_directory',
  'filesystem.read_text_file',
  'github.get_pull_request',
  'filesystem.search_files',
  'everything.echo',
  'filesystem.write_file',
];

/** The n-th synthetic earlier call: a mix of tools and denials, one second apart. */
function syntheticEntry(i, n, nowNs) {
  return {
    action: 'tools/call',
    target: TARGETS[i % TARGETS.length],
    args_digest: (i * 2654435761)
      .toString(16)
      .padStart(ARGS_DIGEST_HEX, '0')
      .slice(-ARGS_DIGEST_HEX),
    allowed: i % TARGETS.length !== TARGETS.length - 1,
    at_ns: nowNs - (n - i) * 1e9,
  };
}

/**
 * Each case's input with its session replaced by what the gateway would send after n earlier
 * calls: the calls are recorded in the gateway's own MemoryStore, loaded back with the
 * configured history_limit and turned into input.session by the gateway's buildInput. The
 * case's own history entries are the most recent calls.
 */
export async function decisionInputs(cases, n, limits) {
  const inputs = [];
  for (const c of cases) {
    const input = JSON.parse(JSON.stringify(c.input));
    if (input.session) {
      const nowNs = Number(input.request?.time_ns ?? 1767225642000000000);
      const now = Math.floor(nowNs / 1e6);
      const own = n === 0 ? [] : (input.session.history ?? []).slice(-n);
      const store = new MemoryStore();
      const record = {
        id: input.session.id,
        principal: `${input.identity.issuer}\u0000${input.identity.subject}`,
        subject: input.identity.subject,
        purpose: input.session.purpose,
        createdAt: now - (input.session.age_s ?? 0) * 1000,
        expiresAt: null,
        protocolVersion: input.request?.protocol_version ?? '',
        clientInfo: input.request?.client ?? null,
        clientCapabilities: {},
      };
      await store.create(record, 3_600_000);
      const options = { ...limits, idleMs: 3_600_000, rateRules: [] };
      const padding = n - own.length;
      for (let i = 0; i < padding; i++) {
        await store.recordCall(record.id, syntheticEntry(i, padding, nowNs), options);
      }
      for (const entry of own) await store.recordCall(record.id, entry, options);
      const session = await store.load(record.id, limits.historyLimit, []);
      await store.close();
      const built = buildInput(
        input.action,
        {
          identity: input.identity,
          session,
          protocolVersion: record.protocolVersion,
          gateway: input.request.gateway,
        },
        undefined,
        now,
      );
      if (input.session.ttl_s !== undefined) built.session.ttl_s = input.session.ttl_s;
      input.session = built.session;
    }
    inputs.push(input);
  }
  return inputs;
}
