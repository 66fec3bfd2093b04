// The result stages one by one, on a real inspection and a real policy (a fixture compiled
// with OPA): decide-result (when it asks, what it asks, the obligations it carries out, what
// it denies) and record-findings (what the session keeps, and fail closed when the store
// cannot keep it). The end-to-end tests cover the same through a gateway; these pin each
// stage's own behaviour.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { builtInDetectors } from '../../src/inspect/detectors.js';
import { Walker } from '../../src/inspect/walk.js';
import type { ChainMethod, RequestContext } from '../../src/pipeline/context.js';
import { decideResult } from '../../src/pipeline/stages/decide-result.js';
import { inspectResult } from '../../src/pipeline/stages/inspect-result.js';
import { recordFindings } from '../../src/pipeline/stages/record-findings.js';
import { PolicyHolder } from '../../src/policy/holder.js';
import { MemoryStore } from '../../src/sessions/memory-store.js';
import { RedisStore } from '../../src/sessions/redis-store.js';
import { silentLogger } from '../../src/util/logger.js';
import { policyInput, requestContext } from './support/context.js';
import { buildFixtureBundle } from './support/opa.js';

const GITHUB_TOKEN = `ghp_${'aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A'}`;
const TOOL = { kind: 'tool', server: 'fs', name: 'read', id: 'fs.read' } as const;

let dir: string;
const policy = new PolicyHolder();
const inspect = inspectResult(new Walker(builtInDetectors()), [], silentLogger);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcpgate-result-stages-'));
  const bundle = join(dir, 'bundle.tar.gz');
  buildFixtureBundle('result-decision', bundle);
  policy.loadBundleFile(bundle, { initialPages: 8, maxPages: 64 });
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** An allowed call whose upstream answered `text`, inspected by the real inspection stage. */
async function answered(
  text: string,
  options: { action?: ChainMethod; purpose?: string } = {},
): Promise<RequestContext> {
  const ctx = requestContext(options.action ?? 'tools/call');
  if (options.purpose !== undefined) {
    ctx.session = { ...ctx.session, record: { ...ctx.session.record, purpose: options.purpose } };
  }
  ctx.target = TOOL as unknown as RequestContext['target'];
  ctx.input = policyInput(ctx, 'tools/call');
  ctx.decisionId = 'call-decision';
  ctx.result = { content: [{ type: 'text', text }] };
  await inspect.run(ctx);
  return ctx;
}

const shownText = (ctx: RequestContext): string =>
  (ctx.result as { content: Array<{ text: string }> }).content[0]?.text ?? '';

describe('decide-result', () => {
  const withFindings = decideResult(policy, silentLogger, 'with_findings');
  const always = decideResult(policy, silentLogger, 'always');

  it('asks nothing about a clean result, unless told to ask always', async () => {
    const clean = await answered('nothing to see here');
    await withFindings.run(clean);
    expect(clean.resultEvaluation).toBeUndefined();
    expect(shownText(clean)).toBe('nothing to see here');

    const asked = await answered('nothing to see here');
    await always.run(asked);
    expect(asked.resultEvaluation?.decision).toMatchObject({
      allow: true,
      reasons: ['a result without secrets'],
    });
    expect(JSON.parse(asked.resultEvaluation?.inputJson ?? '{}')).toMatchObject({
      action: 'tools/result',
      // Every string counts: the text (19 bytes) and its type, "text".
      result: { findings: [], is_error: false, bytes: 23 },
    });
  });

  it('asks about a clean result of a call whose arguments had findings', async () => {
    const ctx = await answered('nothing to see here');
    ctx.input!.findings = [
      {
        id: 'f1',
        type: 'pii',
        detector: 'pii.email',
        severity: 'medium',
        pointer: '/arguments/to',
        excerpt: 'al******… (17 chars)',
      },
    ];
    await withFindings.run(ctx);
    expect(JSON.parse(ctx.resultEvaluation?.inputJson ?? '{}')).toMatchObject({
      action: 'tools/result',
      findings: [{ detector: 'pii.email' }],
      result: { findings: [] },
    });
  });

  it('asks with the findings, masked, and redacts what the policy names', async () => {
    const ctx = await answered(`push with ${GITHUB_TOKEN} today`);
    await withFindings.run(ctx);
    const input = JSON.parse(ctx.resultEvaluation?.inputJson ?? '{}') as {
      action: string;
      result: { findings: Array<{ id: string; detector: string; excerpt: string }> };
    };
    expect(input.action).toBe('tools/result');
    expect(input.result.findings).toEqual([
      expect.objectContaining({
        id: 'f1',
        detector: 'secret.github',
        excerpt: 'ghp_********… (40 chars)',
      }),
    ]);
    expect(ctx.resultEvaluation?.inputJson).not.toContain(GITHUB_TOKEN);
    expect(ctx.denied).toBe(false);
    expect(shownText(ctx)).toBe('push with [REDACTED:secret] today');
    expect(ctx.resultEvaluation?.obligations.labels).toEqual(['secret']);
  });

  it('denies what the policy denies, with its reason', async () => {
    const { privateKey } = generateKeyPairSync('rsa', {
      modulusLength: 1024,
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const ctx = await answered(`key:\n${privateKey}`);
    await withFindings.run(ctx);
    expect(ctx.denied).toBe(true);
    expect(ctx.denial?.reason).toBe('the result carries a private key');
  });

  it('denies a result it cannot redact as the policy asks', async () => {
    const ctx = await answered(`push with ${GITHUB_TOKEN}`, { purpose: 'broken' });
    await withFindings.run(ctx);
    expect(ctx.denied).toBe(true);
    expect(ctx.denial?.reason).toMatch(
      /^the policy asked to redact what cannot be redacted \(.*f99/,
    );
  });

  it('denies a result that could not be inspected without asking the policy', async () => {
    const ctx = await answered('anything');
    ctx.resultInspection = undefined;
    ctx.resultRefusal = 'the result holds more than 10 bytes of text; denied (fail closed)';
    await withFindings.run(ctx);
    expect(ctx.denied).toBe(true);
    expect(ctx.denial?.reason).toBe(ctx.resultRefusal);
    expect(ctx.resultEvaluation?.decision.allow).toBe(false);
  });

  it("decides a task's result (tasks/result) as the result of its tools/call", async () => {
    const ctx = await answered(`push with ${GITHUB_TOKEN}`, { action: 'tasks/result' });
    await withFindings.run(ctx);
    expect(JSON.parse(ctx.resultEvaluation?.inputJson ?? '{}')).toMatchObject({
      action: 'tools/result',
    });
    expect(shownText(ctx)).toBe('push with [REDACTED:secret]');
  });

  it('leaves requests without a result action alone', async () => {
    const ctx = await answered(`push with ${GITHUB_TOKEN}`, { action: 'tools/list' });
    await always.run(ctx);
    expect(ctx.resultEvaluation).toBeUndefined();
  });
});

describe('record-findings', () => {
  it('keeps the labels and the finding counts in the session, for its later decisions', async () => {
    const store = new MemoryStore();
    const ctx = await answered(`push with ${GITHUB_TOKEN} and mail alice@example.com`);
    await store.create({ ...ctx.session.record, createdAt: Date.now() }, 60_000);
    await decideResult(policy, silentLogger, 'with_findings').run(ctx);
    await recordFindings(store).run(ctx);
    const loaded = await store.load(ctx.session.record.id, 0, []);
    expect(loaded?.dlp).toEqual({ labels: ['secret'], findingCounts: { secret: 1, pii: 1 } });
    await store.close();
  });

  it('records nothing when there is nothing to record', async () => {
    const store = new MemoryStore();
    const ctx = await answered('nothing here');
    await store.create({ ...ctx.session.record, createdAt: Date.now() }, 60_000);
    await recordFindings(store).run(ctx);
    expect((await store.load(ctx.session.record.id, 0, []))?.dlp).toBeUndefined();
    await store.close();
  });

  it('denies the result when the store cannot keep what it carried (fail closed)', async () => {
    const store = new RedisStore({
      target: { kind: 'url', url: 'redis://127.0.0.1:1' },
      logger: silentLogger,
    });
    try {
      const ctx = await answered(`push with ${GITHUB_TOKEN}`);
      const outcome = await recordFindings(store).run(ctx);
      expect(outcome).toMatchObject({
        deny: {
          reason: expect.stringMatching(
            /session store .* is unavailable.*the session's findings could not be recorded, so the result is not passed on; denied \(fail closed\)$/,
          ),
        },
      });
    } finally {
      await store.close();
    }
  });
});
