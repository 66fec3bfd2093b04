// The decision log's masking and dropping through the policy's own system.log.mask and
// system.log.drop, as OPA does it: fixture policies built by buildWasmBundle with the real
// OPA CLI, run by PolicyEngine, events written to a real file destination.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBundleFile } from '../../src/policy/bundle/read.js';
import {
  applyMaskRules,
  compareValues,
  DROP_ENTRYPOINT,
  MASK_ENTRYPOINT,
  MaskRuleError,
  parseMaskRules,
} from '../../src/audit/mask.js';
import {
  createDecisionLog,
  type DecisionEvent,
  type DecisionLog,
} from '../../src/audit/decision-log.js';
import { DECISION_ENTRYPOINT, PolicyEngine, VISIBLE_ENTRYPOINT } from '../../src/policy/engine.js';
import { buildWasmBundle, regoLayout, ToolchainError } from '../../src/toolchain/opa.js';
import { PACKAGE_ROOT } from '../../src/util/paths.js';
import { thrownBy } from './support/errors.js';
import { capturingLogger } from '../support/logger.js';
import { CAPABILITIES } from './support/opa.js';

const FIXTURES = join(PACKAGE_ROOT, 'test/fixtures/policies/log-mask');
const MEMORY = { initialPages: 5, maxPages: 1024 };
const LABELS = { id: 'gw-test', version: '9.9.9' };

type Json = Record<string, unknown>;

let dir: string;
const engines: Record<'full' | 'dropOnly' | 'none' | 'failing', PolicyEngine | undefined> = {
  full: undefined,
  dropOnly: undefined,
  none: undefined,
  failing: undefined,
};
const bundleEntrypoints: Record<string, string[]> = {};

function build(fixture: string, dirPath = join(FIXTURES, fixture)): string {
  const out = join(dir, `${fixture}.tar.gz`);
  buildWasmBundle({ ...regoLayout(dirPath), capabilities: CAPABILITIES }, out, `rev-${fixture}`);
  return out;
}

function load(fixture: string): PolicyEngine {
  const bundle = readBundleFile(build(fixture));
  bundleEntrypoints[fixture] = bundle.entrypoints;
  return PolicyEngine.load(bundle, MEMORY);
}

function engine(name: keyof typeof engines): PolicyEngine {
  const e = engines[name];
  if (!e) throw new Error(`fixture engine ${name} not loaded`);
  return e;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcpgate-decision-log-'));
  engines.full = load('full');
  engines.dropOnly = load('drop-only');
  engines.none = load('none');
  engines.failing = load('failing');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function callInput(tool: string, args: Json, subject = 'alice'): Json {
  return {
    action: 'tools/call',
    identity: { subject, claims: { email: `${subject}@example.com` } },
    tool: { server: 'fs', name: tool, id: `fs.${tool}` },
    arguments: args,
  };
}

function event(
  input: Json | string,
  result: unknown = { allow: true, reasons: ['ok'] },
): DecisionEvent {
  return {
    path: DECISION_ENTRYPOINT,
    inputJson: typeof input === 'string' ? input : JSON.stringify(input),
    result,
    revision: 'rev-1',
    evalNs: 1234,
    reqId: 7,
    sessionId: 'sess-1',
    requestedBy: '127.0.0.1:5555',
  };
}

let fileCounter = 0;

/** A decision log writing to a fresh file; returns the log and a reader of its lines. */
function fileLog(): { log: DecisionLog; lines: () => string[] } {
  const path = join(dir, `decisions-${++fileCounter}.jsonl`);
  const log = createDecisionLog([{ type: 'file', path }], LABELS, { logger: capturingLogger([]) });
  return {
    log,
    lines: () =>
      readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l !== ''),
  };
}

/** Writes the events through a file destination and returns the parsed lines. */
async function writeAll(
  engineFor: PolicyEngine | undefined,
  events: DecisionEvent[],
): Promise<{ lines: string[]; parsed: Json[]; ids: string[]; log: DecisionLog }> {
  const { log, lines } = fileLog();
  const ids = events.map((e) => log.write(e, engineFor).decisionId);
  await log.close();
  const all = lines();
  return { lines: all, parsed: all.map((l) => JSON.parse(l) as Json), ids, log };
}

function field(value: Json, key: string): Json {
  return value[key] as Json;
}

describe('buildWasmBundle: decision-log entrypoints', () => {
  it('adds system/log/mask and system/log/drop when the policy defines both', () => {
    expect(bundleEntrypoints.full).toEqual(
      expect.arrayContaining([
        DECISION_ENTRYPOINT,
        VISIBLE_ENTRYPOINT,
        MASK_ENTRYPOINT,
        DROP_ENTRYPOINT,
      ]),
    );
    expect(engine('full').hasEntrypoint(MASK_ENTRYPOINT)).toBe(true);
    expect(engine('full').hasEntrypoint(DROP_ENTRYPOINT)).toBe(true);
  });

  it('adds only the one defined (drop, from a ref head in package system)', () => {
    expect(engine('dropOnly').hasEntrypoint(DROP_ENTRYPOINT)).toBe(true);
    expect(engine('dropOnly').hasEntrypoint(MASK_ENTRYPOINT)).toBe(false);
    expect(bundleEntrypoints['drop-only']).not.toContain(MASK_ENTRYPOINT);
  });

  it('adds neither for a system.log package without mask or drop', () => {
    expect(bundleEntrypoints.none).not.toContain(MASK_ENTRYPOINT);
    expect(bundleEntrypoints.none).not.toContain(DROP_ENTRYPOINT);
    expect(engine('none').hasEntrypoint(MASK_ENTRYPOINT)).toBe(false);
    expect(engine('none').hasEntrypoint(DROP_ENTRYPOINT)).toBe(false);
    expect(engine('none').hasEntrypoint(DECISION_ENTRYPOINT)).toBe(true);
  });

  it('adds neither for a policy with no system package at all', () => {
    const bundle = readBundleFile(
      build('allow-all', join(PACKAGE_ROOT, 'test/fixtures/policies/allow-all')),
    );
    expect([...bundle.entrypoints].sort()).toEqual(
      [DECISION_ENTRYPOINT, VISIBLE_ENTRYPOINT].sort(),
    );
  });

  it('still reports a broken policy as a build failure', () => {
    const err = thrownBy(() => build('broken'));
    expect(err).toBeInstanceOf(ToolchainError);
    expect(err.message).toMatch(/opa build failed/);
    expect(err.message).toMatch(/no_such_function/);
  });
});

describe('decision log without mask or drop (fast path)', () => {
  // Unusual spacing and a number JSON.stringify would write differently: the line must
  // carry exactly these bytes, proof the input is never parsed and re-serialised.
  const rawInput =
    '{"action":"tools/call",  "tool":{"name":"read","id":"fs.read"},"arguments":{"n":1.50,"password":"hunter2"}}';

  it('writes the event with the input bytes unchanged, in OPA field order', async () => {
    for (const e of [undefined, engine('none')]) {
      const { lines, parsed, ids } = await writeAll(e, [event(rawInput)]);
      expect(lines).toHaveLength(1);
      const line = lines[0] as string;
      expect(line).toContain(`,"input":${rawInput},"result":`);
      const ev = parsed[0] as Json;
      expect(Object.keys(ev)).toEqual([
        'decision_id',
        'labels',
        'bundles',
        'path',
        'input',
        'result',
        'requested_by',
        'req_id',
        'session_id',
        'timestamp',
        'metrics',
        'chain',
      ]);
      expect(ev.decision_id).toBe(ids[0]);
      expect(ev.labels).toEqual({ id: 'gw-test', type: 'mcpgate', version: '9.9.9' });
      expect(ev.bundles).toEqual({ mcpgate: { revision: 'rev-1' } });
      expect(ev.metrics).toEqual({ timer_rego_query_eval_ns: 1234 });
      expect(ev).not.toHaveProperty('erased');
      expect(ev).not.toHaveProperty('masked');
    }
  });

  it('keeps the exact bytes with a mask policy when no rule applies to the event', async () => {
    const { lines } = await writeAll(engine('full'), [
      event(rawInput.replace(',"password":"hunter2"', '')),
    ]);
    expect(lines[0]).toContain(
      `,"input":${rawInput.replace(',"password":"hunter2"', '')},"result":`,
    );
    expect(lines[0]).not.toContain('"erased"');
  });
});

describe('decision log with system.log.mask', () => {
  it('erases a path string and lists it in erased', async () => {
    const { parsed } = await writeAll(engine('full'), [
      event(callInput('read', { path: '/etc/hosts', password: 'hunter2' })),
    ]);
    const ev = parsed[0] as Json;
    const input = field(ev, 'input');
    expect(field(input, 'arguments')).toEqual({ path: '/etc/hosts' });
    expect(JSON.stringify(ev)).not.toContain('hunter2');
    // The object form {"op":"remove"} also erases; paths that do not exist are not listed.
    expect(ev.erased).toEqual(['/input/arguments/password', '/input/identity/claims']);
    expect(field(input, 'identity')).toEqual({ subject: 'alice' });
    expect(ev).not.toHaveProperty('masked');
  });

  it('erases part of the result, leaving the decision the caller holds untouched', async () => {
    const result = { allow: false, reasons: ['secret reason'], obligations: {} };
    const { parsed } = await writeAll(engine('full'), [
      event(callInput('secret_tool', {}), result),
    ]);
    const ev = parsed[0] as Json;
    expect(ev.result).toEqual({ allow: false, obligations: {} });
    // Path strings come before rule objects in OPA's set order.
    expect(ev.erased).toEqual(['/result/reasons', '/input/identity/claims']);
    expect(result.reasons).toEqual(['secret reason']);
  });

  it('upserts a replacement value and lists it in masked', async () => {
    const { parsed } = await writeAll(engine('full'), [
      event(callInput('call_api', { api_key: 'sk-live-123', q: 'x' })),
    ]);
    const ev = parsed[0] as Json;
    expect(field(field(ev, 'input'), 'arguments')).toEqual({ api_key: '**REDACTED**', q: 'x' });
    expect(ev.masked).toEqual(['/input/arguments/api_key']);
  });

  it('upsert creates the intermediate objects', async () => {
    const { parsed } = await writeAll(engine('full'), [event(callInput('upsert_deep', {}))]);
    const ev = parsed[0] as Json;
    expect(field(ev, 'input').audit).toEqual({ masked_by: { policy: 'log-mask' } });
    expect(ev.masked).toEqual(['/input/audit/masked_by/policy']);
  });

  it('applies rules in OPA set order: erase strings before upsert objects', async () => {
    const { parsed } = await writeAll(engine('full'), [
      event(callInput('order', { password: 'p', other: 'o' })),
    ]);
    const ev = parsed[0] as Json;
    expect(field(field(ev, 'input'), 'arguments')).toEqual({ note: 'arguments erased' });
    // "/input/arguments/password" sorts after "/input/arguments": already gone, not listed.
    expect(ev.erased).toEqual(['/input/arguments', '/input/identity/claims']);
    expect(ev.masked).toEqual(['/input/arguments/note']);
  });

  it('erases an array element', async () => {
    const { parsed } = await writeAll(engine('full'), [
      event(callInput('tags', { tags: ['a', 'b', 'c'] })),
    ]);
    const ev = parsed[0] as Json;
    expect(field(field(ev, 'input'), 'arguments')).toEqual({ tags: ['b', 'c'] });
    expect(ev.erased).toEqual(['/input/arguments/tags/0', '/input/identity/claims']);
  });

  it('erasing /input leaves the field out; later rules on /input are skipped', async () => {
    const { parsed } = await writeAll(engine('full'), [
      event(callInput('read', { password: 'x' }, 'ghost')),
    ]);
    const ev = parsed[0] as Json;
    expect(ev).not.toHaveProperty('input');
    expect(ev.erased).toEqual(['/input']);
    expect(ev.result).toEqual({ allow: true, reasons: ['ok'] });
  });
});

describe('decision log with system.log.drop', () => {
  it('drops the events the policy says to drop and counts them', async () => {
    const { parsed, ids, log } = await writeAll(engine('full'), [
      event(callInput('read', {})),
      event(callInput('healthcheck', {})),
      event(callInput('write', {})),
    ]);
    expect(ids).toHaveLength(3);
    expect(parsed.map((e) => field(field(e, 'input'), 'tool').name)).toEqual(['read', 'write']);
    expect(log.stats().dropped_policy).toBe(1);
  });

  it('runs drop alone when the policy has no mask', async () => {
    const visible: DecisionEvent = {
      ...event({ action: 'tools/list', catalog: [] }, []),
      path: VISIBLE_ENTRYPOINT,
    };
    const raw = '{"action":"tools/call","n":1.50}';
    const { lines, log } = await writeAll(engine('dropOnly'), [visible, event(raw)]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`,"input":${raw},`);
    expect(log.stats().dropped_policy).toBe(1);
  });

  it('uses the engine passed with each event (a policy swap takes effect at once)', async () => {
    const { log, lines } = fileLog();
    log.write(event(callInput('healthcheck', { password: 'a' })), engine('none'));
    log.write(event(callInput('healthcheck', { password: 'b' })), engine('full'));
    log.write(event(callInput('read', { password: 'c' })), engine('full'));
    await log.close();
    const parsed = lines().map((l) => JSON.parse(l) as Json);
    expect(parsed.map((e) => field(field(e, 'input'), 'arguments'))).toEqual([
      { password: 'a' },
      {},
    ]);
  });
});

describe('decision log when mask or drop fails', () => {
  it('writes the event without its input, erased ["/input"] and the reason', async () => {
    const messages: string[] = [];
    const path = join(dir, 'failing.jsonl');
    const log = createDecisionLog([{ type: 'file', path }], LABELS, {
      logger: capturingLogger(messages),
    });
    const result = { allow: true, reasons: ['fine'], obligations: {} };
    log.write(event(callInput('mask_throws', { password: 'hunter2' }), result), engine('failing'));
    log.write(event(callInput('drop_throws', { password: 'hunter3' }), result), engine('failing'));
    log.write(event(callInput('bad_rule', { password: 'hunter4' }), result), engine('failing'));
    log.write(event(callInput('fine', { password: 'visible' }), result), engine('failing'));
    expect(log.stats()).toMatchObject({ mask_errors: 3, dropped_policy: 0 });
    await log.close();
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(4);
    const parsed = lines.map((l) => JSON.parse(l) as Json);
    for (const ev of parsed.slice(0, 3)) {
      expect(ev).not.toHaveProperty('input');
      expect(ev.erased).toEqual(['/input']);
      expect(ev.result).toEqual(result);
      expect(ev.log_error).toMatch(/^decision log drop\/mask failed, input erased: /);
      expect(ev.req_id).toBe(7);
    }
    expect(lines.slice(0, 3).join('\n')).not.toMatch(/hunter/);
    expect(parsed[0]?.log_error).toMatch(/policy evaluation failed/);
    expect(parsed[2]?.log_error).toMatch(/mask prefix not allowed/);
    // The one event whose mask worked is written normally.
    expect(field(field(parsed[3] as Json, 'input'), 'arguments')).toEqual({ password: 'visible' });
    // Logged once, then throttled.
    expect(messages.filter((m) => m.includes('drop/mask failed'))).toHaveLength(1);
  });
});

describe('decision log: stdout and file destinations in /readyz', () => {
  it('reports each writer; not healthy while a file fails; refuses at its bound; spools what is left', async () => {
    const messages: string[] = [];
    const good = join(dir, `good-${++fileCounter}.jsonl`);
    const spoolDir = join(dir, `spool-${fileCounter}`);
    const log = createDecisionLog(
      [
        { type: 'file', path: good },
        { type: 'file', path: '/dev/full', maxBufferBytes: 64 * 1024, accept: 'queued' },
      ],
      LABELS,
      { logger: capturingLogger(messages), closeTimeoutMs: 1000, spoolDir },
    );
    expect(log.healthy()).toBe(true);
    expect(log.stats().writers.map((w) => w.destination)).toEqual([
      `file:${good}`,
      'file:/dev/full',
    ]);
    const big = { blob: 'z'.repeat(2000) };
    log.write(event(callInput('read', big)), undefined);
    await until(() => log.stats().writers[1]?.error !== null, 'the /dev/full write to fail');
    expect(log.healthy()).toBe(false);
    // accept: queued: a failing destination under its bound still accepts lines.
    expect(log.refusal()).toBeUndefined();
    const failing = log.stats().writers[1];
    expect(failing?.error).toMatch(/^ENOSPC: /);
    expect(log.stats().writers[0]).toMatchObject({ error: null, written_lines: 1 });
    const logged = messages.map((m) => JSON.parse(m) as Json);
    expect(logged[0]).toMatchObject({
      level: 'error',
      message: 'decision log destination cannot be written; the lines are kept and retried',
      destination: 'file:/dev/full',
    });
    // Accepted until 64 KiB wait for /dev/full (about 30 lines of 2 KB).
    let accepted = 1;
    while (log.refusal() === undefined && accepted < 1000) {
      expect(log.write(event(callInput('read', big)), undefined).refused).toBeUndefined();
      accepted++;
    }
    expect(accepted).toBeGreaterThan(20);
    expect(log.refusal()).toMatch(
      /^the decision log \(file:\/dev\/full\) has .* waiting to be written \(max_buffer_bytes 65536\): writing to it fails \(ENOSPC: /,
    );
    // All or none: a refused line reaches no destination, and the request is refused.
    const refused = log.write(event(callInput('read', big)), undefined);
    expect(refused.refused).toBe(log.refusal());
    expect(log.stats().refused).toBe(1);
    const report = await log.close();
    // The healthy file got every accepted line; the full device's lines are in a spool file.
    expect(readFileSync(good, 'utf8').trim().split('\n')).toHaveLength(accepted);
    expect(report.unsaved).toEqual([]);
    expect(report.spooled).toEqual([
      expect.objectContaining({ destination: 'file:/dev/full', lines: accepted }),
    ]);
    expect(report.spooled[0]?.error).toMatch(/^ENOSPC: /);
    const spooled = readFileSync(report.spooled[0]?.file ?? '', 'utf8')
      .trim()
      .split('\n');
    expect(spooled).toHaveLength(accepted + 1); // the header and the lines
    expect(JSON.parse(spooled[0] as string)).toMatchObject({
      mcpgate_spool: { destination: 'file:/dev/full', lines: accepted },
    });
    const spoolMessage = messages.map((m) => JSON.parse(m) as Json).find((m) => m.spool);
    expect(spoolMessage).toMatchObject({
      message: 'decision log lines spooled: the destination could not take them',
      lines: accepted,
      spool: report.spooled[0]?.file,
    });
  });

  it('accept: written: a line counts once written; a failing write refuses the request and then every line', async () => {
    const good = join(dir, `good-${++fileCounter}.jsonl`);
    const log = createDecisionLog(
      [
        { type: 'file', path: good },
        { type: 'file', path: '/dev/full' },
      ],
      LABELS,
      {
        logger: capturingLogger([]),
        closeTimeoutMs: 1000,
        spoolDir: join(dir, `spool-${fileCounter}`),
      },
    );
    const first = log.write(event(callInput('read', { n: 1 })), undefined);
    expect(first.refused).toBeUndefined();
    await expect(first.written).rejects.toThrow(
      /^the decision log \(file:\/dev\/full\) could not write this decision \(ENOSPC: /,
    );
    expect(log.refusal()).toMatch(
      /^the decision log \(file:\/dev\/full\) cannot be written \(ENOSPC: .*\); no call is served until its decision can be recorded$/,
    );
    const second = log.write(event(callInput('read', { n: 2 })), undefined);
    expect(second.refused).toBe(log.refusal());
    expect(second.written).toBeUndefined();
    await log.close();
    // The good file has the first line only: the refused one went nowhere.
    expect(readFileSync(good, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('accept: written resolves once the line is in the file; queued does not wait', async () => {
    const written = join(dir, `written-${++fileCounter}.jsonl`);
    const log = createDecisionLog([{ type: 'file', path: written }], LABELS, {
      logger: capturingLogger([]),
    });
    const logged = log.write(event(callInput('read', { n: 1 })), undefined);
    expect(readFileSync(written, 'utf8')).toBe('');
    await logged.written;
    expect(JSON.parse(readFileSync(written, 'utf8')) as Json).toMatchObject({
      decision_id: logged.decisionId,
    });
    await log.close();
    const queuedPath = join(dir, `queued-${++fileCounter}.jsonl`);
    const queued = createDecisionLog(
      [{ type: 'file', path: queuedPath, accept: 'queued' }],
      LABELS,
      { logger: capturingLogger([]) },
    );
    expect(queued.write(event(callInput('read', { n: 1 })), undefined).written).toBeUndefined();
    await queued.close();
  });
});

/** Polls `condition` every 5 ms until it holds; fails with `what` after 20 s. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('mask rules (OPA semantics)', () => {
  it('rejects the whole set for any invalid rule, as OPA does', () => {
    for (const bad of [
      ['/input/a', '/labels/id'],
      ['input/a'],
      [''],
      [{ path: '/input/a' }],
      [{ op: 'replace', path: '/input/a' }],
      [{ op: 'remove' }],
      [42],
    ]) {
      expect(thrownBy(() => parseMaskRules(bad))).toBeInstanceOf(MaskRuleError);
    }
    expect(thrownBy(() => parseMaskRules('/input/a'))).toBeInstanceOf(MaskRuleError);
    expect(parseMaskRules(undefined)).toEqual([]);
    expect(parseMaskRules(['/nd_builtin_cache/x'])).toHaveLength(1);
  });

  it('skips without listing: missing paths, non-object parts, out-of-range indexes', () => {
    const ev: Json = { input: { a: [1, 2], s: 'str' }, result: ['x', 'y'] };
    const outcome = applyMaskRules(
      ev,
      parseMaskRules([
        '/input/missing',
        '/input/a/5',
        '/input/s/x',
        '/nd_builtin_cache/k',
        { op: 'upsert', path: '/result/k', value: 1 },
        { op: 'upsert', path: '/input/a/7', value: 1 },
        { op: 'upsert', path: '/input/s/x', value: 1 },
        { op: 'upsert', path: '/input/a/1', value: 'two' },
        { op: 'upsert', path: '/input/x' },
      ]),
    );
    expect(ev).toEqual({ input: { a: [1, 'two'], s: 'str', x: null }, result: ['x', 'y'] });
    expect(outcome).toEqual({ erased: [], masked: ['/input/a/1', '/input/x'] });
  });

  it('replaces a whole part with upsert', () => {
    const ev: Json = { input: { secret: 1 }, result: true };
    const outcome = applyMaskRules(
      ev,
      parseMaskRules([{ op: 'upsert', path: '/input', value: { redacted: true } }]),
    );
    expect(ev.input).toEqual({ redacted: true });
    expect(outcome.masked).toEqual(['/input']);
  });

  it('orders values as OPA does', () => {
    const values: unknown[] = [
      { op: 'upsert', path: '/input/b' },
      { op: 'remove', path: '/input/z' },
      '/result/x',
      '/input/é',
      '/input/B',
      '/input/a',
      [1],
      3,
      false,
      null,
      { op: 'upsert', path: '/input/a', value: 1 },
    ];
    expect([...values].sort(compareValues)).toEqual([
      null,
      false,
      3,
      '/input/B',
      '/input/a',
      '/input/é',
      '/result/x',
      [1],
      { op: 'remove', path: '/input/z' },
      { op: 'upsert', path: '/input/a', value: 1 },
      { op: 'upsert', path: '/input/b' },
    ]);
    // Code point order, not UTF-16 order: U+1F600 sorts after U+FF5E.
    expect(compareValues('\u{1F600}', '\uFF5E')).toBeGreaterThan(0);
  });
});
