// Continuous verification, the parts that are pure functions: the result sketches and the
// argument provenance worked out from them, the behaviour facts of a call, the baselines in
// bundle data, and the new obligations (throttle, step_up, alert, require_approval's reason).
import { describe, expect, it } from '@jest/globals';
import {
  argumentProvenance,
  mergeSketch,
  packSketch,
  resultTexts,
  sketchFill,
  sketchIsFull,
  sketchOf,
  SKETCH_BYTES,
  unpackSketch,
} from '../../src/inspect/provenance.js';
import {
  BaselinesError,
  behaviourOf,
  NO_BASELINES,
  parseBaselines,
} from '../../src/policy/behaviour.js';
import { parseDecision } from '../../src/policy/decision.js';
import { checkObligations, parseStepUp, parseThrottle } from '../../src/policy/obligations.js';
import { hypotheticalSession } from '../../src/policy/input.js';
import type { HistoryEntry } from '../../src/sessions/session.js';
import { minuteOf, type LoadedSession } from '../../src/sessions/store.js';

const REPORT =
  'Quarterly numbers (internal): revenue 4.2 million, churn 3 percent, the Berlin office closes in May.';

describe('argument provenance', () => {
  const sketch = sketchOf([REPORT]);

  it('finds an argument copied from a labelled result, whatever its case and punctuation', () => {
    const found = argumentProvenance(
      { query: 'REVENUE 4.2 MILLION; churn 3 percent' },
      { private: sketch },
    );
    expect(found).toMatchObject({ fraction: 1, argument: '/query', labels: ['private'] });
    expect(found?.by_label).toEqual({ private: 1 });
  });

  it('names the argument and the label, deep in the arguments', () => {
    const found = argumentProvenance(
      { options: { filters: ['news', 'the Berlin office closes in May'] } },
      { private: sketchOf(['unrelated text about gardening']), secret: sketch },
    );
    expect(found?.argument).toBe('/options/filters/1');
    expect(found?.labels).toEqual(['secret']);
    expect(found?.by_label.private).toBeLessThan(0.5);
  });

  it('does not match text that came from nowhere', () => {
    const found = argumentProvenance(
      { query: 'typescript generics tutorial for beginners' },
      { private: sketch },
    );
    expect(found?.fraction).toBeLessThan(0.25);
    expect(found?.labels).toEqual([]);
  });

  it('says nothing without a sketch or an argument long enough to tell', () => {
    expect(argumentProvenance({ query: REPORT }, {})).toBeUndefined();
    expect(argumentProvenance({ n: 4, q: 'ok' }, { private: sketch })).toBeUndefined();
  });

  it('sketches every string of a result in order, and nothing of _meta', () => {
    expect(
      resultTexts({
        content: [
          { type: 'text', text: 'first' },
          { type: 'text', text: 'second' },
        ],
        structuredContent: { note: 'third' },
        _meta: { hidden: 'not this' },
      }),
    ).toEqual(['first', 'second', 'third']);
  });

  it('is a fixed size, and a full sketch takes no more text', () => {
    expect(sketch).toHaveLength(SKETCH_BYTES);
    const words = Array.from({ length: 4000 }, (_, i) => `word${i * 7919}`).join(' ');
    const big = sketchOf([words]);
    expect(sketchFill(big)).toBeGreaterThan(0);
    const full = new Uint8Array(SKETCH_BYTES).fill(0xff);
    expect(sketchIsFull(full)).toBe(true);
    expect(mergeSketch(full, sketch)).toBe(false);
    const empty = new Uint8Array(SKETCH_BYTES);
    expect(mergeSketch(empty, sketch)).toBe(true);
    expect(empty).toEqual(sketch);
  });

  it('is stored as its set bits while few are set, as its bytes once many are', () => {
    const sparse = packSketch(sketch);
    expect(sparse).toBeInstanceOf(Uint16Array);
    expect(sparse.byteLength).toBeLessThan(SKETCH_BYTES / 4);
    expect(unpackSketch(sparse)).toEqual(sketch);
    // Positions ascending: bit 7 of byte 0 before bit 0 of byte 1.
    const edge = new Uint8Array(SKETCH_BYTES);
    edge[0] = 0x80;
    edge[1] = 0x01;
    edge[SKETCH_BYTES - 1] = 0x80;
    expect([...packSketch(edge)]).toEqual([7, 8, SKETCH_BYTES * 8 - 1]);
    const words = Array.from({ length: 4000 }, (_, i) => `word${i * 7919}`).join(' ');
    const dense = sketchOf([words]);
    const stored = packSketch(dense);
    expect(stored).toBeInstanceOf(Uint8Array);
    expect(stored).not.toBe(dense);
    expect(unpackSketch(stored)).toEqual(dense);
    expect([...packSketch(new Uint8Array(SKETCH_BYTES))]).toEqual([]);
    expect(unpackSketch(packSketch(new Uint8Array(SKETCH_BYTES)))).toEqual(
      new Uint8Array(SKETCH_BYTES),
    );
  });
});

function session(options: {
  history?: HistoryEntry[];
  minutes?: Array<[number, number]>;
  purpose?: string;
  createdAt?: number;
}): LoadedSession {
  const loaded = hypotheticalSession({
    id: 's1',
    purpose: options.purpose ?? 'research',
    history: options.history ?? [],
    createdAt: options.createdAt ?? 0,
  });
  loaded.behaviour = {
    minutes: options.minutes ?? [],
    novelNgrams: 0,
    novelTools: 0,
    sketches: {},
  };
  return loaded;
}

const call = (target: string, argsDigest = 'd0') => ({
  action: 'tools/call',
  target,
  argsDigest,
  args: {},
});

const entry = (target: string, allowed = true, digest = 'd0'): HistoryEntry => ({
  action: 'tools/call',
  target,
  args_digest: digest,
  allowed,
  at_ns: 0,
});

const BASELINES = parseBaselines(
  {
    baselines: {
      purposes: {
        research: {
          sessions: 20,
          rate_per_min: { p50: 2, p95: 4, p99: 6 },
          duration_s: { p50: 300, p95: 600, p99: 900 },
          tools: ['search.web_search', 'everything.echo'],
          ngrams: ['search.web_search>everything.echo'],
        },
      },
    },
  },
  'test',
);

describe('behaviour facts', () => {
  const now = 1_800_000_000_000 + 15_000; // 15 s into a minute
  const minute = minuteOf(now);

  it('counts this minute, a share of the last one, and ten minutes', () => {
    const { facts, update } = behaviourOf(
      session({
        minutes: [
          [minute - 11, 50],
          [minute - 3, 7],
          [minute - 1, 8],
          [minute, 5],
        ],
      }),
      call('everything.echo'),
      NO_BASELINES,
      now,
    );
    // 5 now, 8 × 0.75 of the last minute, and this call.
    expect(facts.calls_1m).toBe(12);
    expect(facts.calls_10m).toBe(21);
    expect(facts.baseline).toBe(false);
    expect(facts.rate_ratio).toBeUndefined();
    expect(update).toEqual({ minute, novelNgrams: 0, novelTools: 0 });
  });

  it('compares with the purpose baseline: rate, pairs, tools, age', () => {
    const loaded = session({
      history: [entry('search.web_search'), entry('filesystem.read_text_file')],
      minutes: [[minute, 7]],
      createdAt: now - 1_200_000,
    });
    loaded.summary = {
      targets: { 'tools/call': { 'search.web_search': { allowed: 1, denied: 0, last_ns: 0 } } },
      untracked: 0,
    };
    loaded.behaviour!.novelNgrams = 2;
    const { facts, update } = behaviourOf(
      loaded,
      call('filesystem.read_text_file'),
      BASELINES,
      now,
    );
    expect(facts).toMatchObject({
      baseline: true,
      calls_1m: 8,
      rate_ratio: 2,
      ngram: 'filesystem.read_text_file>filesystem.read_text_file',
      ngram_novel: true,
      novel_ngrams: 3,
      novel_tools: 1,
      tool_set_drift: 0.5,
      age_ratio: 2,
    });
    expect(update).toEqual({ minute, novelNgrams: 1, novelTools: 1 });
    const known = behaviourOf(
      session({ history: [entry('search.web_search')] }),
      call('everything.echo'),
      BASELINES,
      now,
    );
    expect(known.facts.ngram_novel).toBe(false);
    expect(known.facts.novel_tools).toBe(0);
  });

  it('counts recent denials and repeats of this very call', () => {
    const { facts } = behaviourOf(
      session({
        history: [
          entry('a.x', false),
          entry('everything.echo', true, 'same'),
          entry('everything.echo', true, 'other'),
          entry('everything.echo', false, 'same'),
        ],
      }),
      call('everything.echo', 'same'),
      NO_BASELINES,
      now,
    );
    expect(facts.denied_recent).toBe(2);
    expect(facts.denied).toBe(2);
    expect(facts.repeats).toBe(2);
  });
});

describe('baselines in bundle data', () => {
  it('none without data.baselines', () => {
    expect(parseBaselines({}, 'b')).toBe(NO_BASELINES);
  });

  it('refuses what baseline learn would not write', () => {
    expect(() => parseBaselines({ baselines: [] }, 'bundle r1')).toThrow(BaselinesError);
    expect(() =>
      parseBaselines({ baselines: { purposes: { x: { sessions: 1, tools: [] } } } }, 'bundle r1'),
    ).toThrow(/data\.baselines\.purposes\["x"\] must have sessions, rate_per_min/);
  });
});

describe('the obligations of continuous verification', () => {
  const allowWith = (obligations: Record<string, unknown>) =>
    parseDecision({ allow: true, reasons: ['ok'], obligations });

  it('carries out throttle, alert and step_up', () => {
    const { decision, obligations } = checkObligations(
      allowWith({
        throttle: { delay_ms: 500 },
        alert: ['call rate 20 per minute'],
        step_up: { reason: 'too old', max_age_s: 900 },
      }),
    );
    expect(decision.allow).toBe(true);
    expect(obligations.throttle).toEqual({ delay_ms: 500 });
    expect(obligations.alert).toEqual(['call rate 20 per minute']);
    expect(obligations.stepUp).toEqual({ reason: 'too old', max_age_s: 900 });
    // An alert alone takes the quick path and is still carried out.
    expect(checkObligations(allowWith({ alert: ['x'] })).obligations.alert).toEqual(['x']);
  });

  it('denies an allow whose throttle or step_up is malformed, saying why', () => {
    expect(parseThrottle({ delay_ms: 60_000 })).toMatch(/from 1 to 10000/);
    expect(parseStepUp({ reason: 'r', scope: 'a "b"' })).toMatch(/scope tokens/);
    const { decision } = checkObligations(allowWith({ throttle: { delay_ms: 0 } }));
    expect(decision.allow).toBe(false);
    expect(decision.reasons[0]).toMatch(/malformed obligation: throttle.delay_ms/);
    expect(parseDecision({ allow: true, obligations: { alert: 'no' } }).allow).toBe(false);
  });

  it('a call that needs approval keeps its reason for the approver', () => {
    const { decision, obligations } = checkObligations(
      allowWith({
        require_approval: {
          reason: 'private data entered this session',
          approvers: { roles: ['mcpgate.approver'], groups: [] },
          self: false,
          timeout_s: 600,
        },
      }),
    );
    expect(decision.allow).toBe(true);
    expect(obligations.approval?.reason).toBe('private data entered this session');
  });
});
