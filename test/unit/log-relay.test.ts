// Upstream log messages on their way to a session (LogRelay): the session's level, the
// server's name in front of the logger, per-session connections delivered at once, shared
// ones only for the servers the policy's decision shows (one decision per session and policy
// revision), the bounded queue while that decision is made, what is dropped counted and
// said in the log, and the call's answer held until its queued messages are out.
import { describe, expect, it } from '@jest/globals';
import type { ServerNotification } from '@modelcontextprotocol/sdk/types.js';
import {
  LogRelay,
  MAX_QUEUED_LOG_MESSAGES,
  UpstreamNotificationCounters,
  type LogDestination,
} from '../../src/pipeline/log-relay.js';
import { capturingLogger } from '../support/logger.js';

interface Harness {
  relay: LogRelay;
  counters: UpstreamNotificationCounters;
  sent: Array<{ session: string; params: unknown }>;
  decisions: string[];
  /** Ends the decision being made, showing these servers. */
  decide(servers: string[]): void;
  revision: { value: string };
  destination(session: string): LogDestination & { held: Array<Promise<void>> };
  warnings: unknown[];
}

function harness(): Harness {
  const counters = new UpstreamNotificationCounters();
  const sent: Harness['sent'] = [];
  const decisions: string[] = [];
  const waiting: Array<(servers: ReadonlySet<string>) => void> = [];
  const revision = { value: 'r1' };
  const lines: string[] = [];
  const logger = capturingLogger(lines);
  const relay = new LogRelay(
    (destination) => {
      decisions.push(destination.sessionId);
      return new Promise((resolve) => waiting.push(resolve));
    },
    () => revision.value,
    counters,
    logger,
  );
  return {
    relay,
    counters,
    sent,
    decisions,
    decide: (servers) => waiting.shift()?.(new Set(servers)),
    revision,
    destination: (session) => {
      const held: Array<Promise<void>> = [];
      return {
        sessionId: session,
        held,
        send: (notification: ServerNotification) => {
          sent.push({ session, params: notification.params });
          return Promise.resolve();
        },
        hold: (delivered) => held.push(delivered),
      };
    },
    get warnings() {
      return lines
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((l) => l.message === 'upstream notifications dropped');
    },
  };
}

const message = (level: string, data = level, logger?: string) =>
  logger === undefined ? { level, data } : { level, data, logger };

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('LogRelay', () => {
  it('delivers a per-session connection’s messages at once, at the session’s level, namespaced', () => {
    const h = harness();
    const a = h.destination('A');
    h.relay.relay('lab', message('debug', 'd', 'core'), a, false);
    h.relay.setLevel('A', 'warning');
    h.relay.relay('lab', message('info'), a, false);
    h.relay.relay('lab', message('error', 'e', 'core'), a, false);
    h.relay.relay('lab', message('emergency'), a, false);
    expect(h.sent).toEqual([
      { session: 'A', params: { level: 'debug', data: 'd', logger: 'lab/core' } },
      { session: 'A', params: { level: 'error', data: 'e', logger: 'lab/core' } },
      { session: 'A', params: { level: 'emergency', data: 'emergency', logger: 'lab' } },
    ]);
    expect(h.decisions).toEqual([]);
    expect(h.counters.relayed).toBe(3);
  });

  it('drops a message that is not one (no known level, no data), counting it', () => {
    const h = harness();
    h.relay.relay('lab', { level: 'loud', data: 'x' }, h.destination('A'), false);
    h.relay.relay('lab', { level: 'info' }, h.destination('A'), false);
    h.relay.relay('lab', undefined, h.destination('A'), false);
    expect(h.sent).toEqual([]);
    expect(h.counters.dropped.invalid).toBe(3);
  });

  it('asks the policy once per session which shared servers it hears, then delivers only those', async () => {
    const h = harness();
    const a = h.destination('A');
    h.relay.relay('lab', message('info', 'first'), a, true);
    h.relay.relay('web', message('info', 'second'), a, true);
    expect(h.sent).toEqual([]);
    expect(h.decisions).toEqual(['A']);
    h.decide(['lab']);
    await tick();
    expect(h.sent.map((s) => s.params)).toEqual([{ level: 'info', data: 'first', logger: 'lab' }]);
    h.relay.relay('lab', message('info', 'third'), a, true);
    h.relay.relay('web', message('info', 'fourth'), a, true);
    expect(h.sent.map((s) => (s.params as { data: string }).data)).toEqual(['first', 'third']);
    expect(h.decisions).toEqual(['A']);
    expect(h.counters.dropped.not_visible).toBe(2);
    // The policy's choice is no malfunction: the log is not told.
    expect(h.warnings).toEqual([]);
  });

  it('decides again under a new policy, and for every session on its own', async () => {
    const h = harness();
    h.relay.relay('lab', message('info'), h.destination('A'), true);
    h.decide([]);
    await tick();
    h.relay.relay('lab', message('info'), h.destination('B'), true);
    h.revision.value = 'r2';
    h.relay.relay('lab', message('info'), h.destination('A'), true);
    expect(h.decisions).toEqual(['A', 'B', 'A']);
  });

  it(`queues at most ${MAX_QUEUED_LOG_MESSAGES} messages while deciding; the rest are dropped, counted and said once`, async () => {
    const h = harness();
    const a = h.destination('A');
    for (let i = 0; i < MAX_QUEUED_LOG_MESSAGES + 50; i++)
      h.relay.relay('lab', message('info', `m${i}`), a, true);
    expect(h.counters.dropped.queue_full).toBe(50);
    expect(h.warnings).toHaveLength(1);
    expect(h.warnings[0]).toMatchObject({ upstream: 'lab', reason: 'queue_full' });
    h.decide(['lab']);
    await tick();
    expect(h.sent).toHaveLength(MAX_QUEUED_LOG_MESSAGES);
    expect((h.sent.at(-1)?.params as { data: string }).data).toBe(
      `m${MAX_QUEUED_LOG_MESSAGES - 1}`,
    );
  });

  it('holds the call a queued message belongs to until it is delivered', async () => {
    const h = harness();
    const a = h.destination('A');
    h.relay.relay('lab', message('info'), a, true);
    expect(a.held).toHaveLength(1);
    let delivered = false;
    void a.held[0]!.then(() => (delivered = true));
    await tick();
    expect(delivered).toBe(false);
    h.decide(['lab']);
    await tick();
    expect(delivered).toBe(true);
    expect(h.sent).toHaveLength(1);
  });

  it('forgets a session that ended: a decision that comes late delivers nothing', async () => {
    const h = harness();
    const a = h.destination('A');
    h.relay.setLevel('A', 'error');
    h.relay.relay('lab', message('error'), a, true);
    h.relay.forget('A');
    h.decide(['lab']);
    await tick();
    expect(h.sent).toEqual([]);
    h.relay.relay('lab', message('debug'), a, false);
    expect(h.sent).toHaveLength(1);
  });

  it('counts a message that reaches no session and says so, at most once a minute', () => {
    const h = harness();
    h.relay.dropped('unattributed', 'lab');
    h.relay.dropped('unattributed', 'lab');
    expect(h.counters.dropped.unattributed).toBe(2);
    expect(h.warnings).toHaveLength(1);
  });
});
