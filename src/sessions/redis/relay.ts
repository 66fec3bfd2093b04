// Held calls across replicas (src/mcp/server/held-calls.ts): a 2026-07-28 client's retry
// that reaches a replica other than the one holding its call is relayed to the holder over
// Redis pub/sub, and the holder's answer comes back the same way.
//
// Channels (p = keyPrefix), not keys, so nothing is stored:
//   p r:<replica>   each replica's own channel, subscribed on the store's subscriber
//                   connection next to `p events`. Messages:
//                   {type:'retry', id, from, retry}   a retry for a call held there;
//                   {type:'taken', id}                the holder has it (to `from`);
//                   {type:'answer', id, answer}       its answer (to `from`).
// Why pub/sub on a channel per replica: only the holder has the call (an upstream request in
// flight in its memory), so the retry must reach that process and no other; the store
// already keeps a subscriber connection that reconnects by itself (one more channel costs
// nothing), a message to one replica's channel is read by that replica alone, and nothing
// is left in Redis to clean up when a replica dies. The `taken` acknowledgement tells a
// holder that is gone (nobody took the retry within the acknowledgement time) from one
// that is slow to answer (the call itself may take long).
import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import {
  HeldCallUnreachableError,
  type RelayedAnswer,
  type RelayedRetry,
  type ReplicaRelay,
} from '../../mcp/server/held-calls.js';
import type { Logger } from '../../util/logger.js';

/** What the relay needs of the Redis store that owns the connections. */
export interface RedisRelayHost {
  readonly prefix: string;
  readonly client: Redis | Cluster;
  /** A cluster: PUBLISH counts only the receivers on the node it ran on. */
  readonly cluster: boolean;
  /** One round trip; failures become StoreUnavailableError. */
  run<T>(op: () => Promise<T>): Promise<T>;
  /** Adds a channel to the store's subscriber connection (kept across reconnections). */
  listen(channel: string): void;
  /** How long the holder has to acknowledge a retry before it counts as gone, ms. */
  readonly ackMs: number;
  logger: Logger;
}

interface Waiting {
  resolve(answer: RelayedAnswer): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
  to: string;
  timeoutMs: number;
}

export class RedisRelay implements ReplicaRelay {
  private replica: string | undefined;
  private handler: ((retry: RelayedRetry) => Promise<RelayedAnswer>) | undefined;
  private readonly waiting = new Map<string, Waiting>();

  constructor(private readonly host: RedisRelayHost) {}

  /** The channel of one replica. */
  channelOf(replica: string): string {
    return `${this.host.prefix}r:${replica}`;
  }

  serve(replica: string, handler: (retry: RelayedRetry) => Promise<RelayedAnswer>): void {
    this.replica = replica;
    this.handler = handler;
    this.host.listen(this.channelOf(replica));
  }

  async send(to: string, retry: RelayedRetry, timeoutMs: number): Promise<RelayedAnswer> {
    const from = this.replica;
    if (from === undefined) {
      throw new HeldCallUnreachableError('this replica does not take relayed answers', 'gone');
    }
    const id = randomUUID();
    const answered = new Promise<RelayedAnswer>((resolve, reject) => {
      const timer = setTimeout(() => this.gone(id), this.host.ackMs);
      timer.unref();
      this.waiting.set(id, { resolve, reject, timer, to, timeoutMs });
    });
    // Settled before the publish's own outcome is known: no unhandled rejection meanwhile.
    answered.catch(() => undefined);
    const message = JSON.stringify({ type: 'retry', id, from, retry });
    let receivers: number;
    try {
      receivers = await this.host.run(() => this.host.client.publish(this.channelOf(to), message));
    } catch (err) {
      this.drop(id);
      throw err;
    }
    // On one node a count of 0 means nobody listens on the holder's channel: it is gone.
    if (receivers === 0 && !this.host.cluster) this.gone(id);
    return answered;
  }

  /** A message on this replica's channel. */
  heard(raw: string): void {
    const message = parse(raw);
    if (message === undefined) {
      this.host.logger.warn('session store: ignored a malformed relay message', {});
      return;
    }
    if (message.type === 'retry') {
      void this.take(message.id, message.from, message.retry);
      return;
    }
    const waiting = this.waiting.get(message.id);
    if (!waiting) return; // timed out already
    clearTimeout(waiting.timer);
    if (message.type === 'taken') {
      // The holder has it: now the call's own time.
      waiting.timer = setTimeout(() => {
        this.drop(message.id);
        waiting.reject(
          new HeldCallUnreachableError(
            `replica ${waiting.to} did not answer a relayed retry within ${waiting.timeoutMs} ms`,
            'timeout',
          ),
        );
      }, waiting.timeoutMs);
      waiting.timer.unref();
      return;
    }
    this.waiting.delete(message.id);
    waiting.resolve(message.answer);
  }

  /** The holder's side: acknowledge, resume the call, send back its answer. */
  private async take(id: string, from: string, retry: RelayedRetry): Promise<void> {
    const handler = this.handler;
    if (!handler) return;
    const reply = (body: Record<string, unknown>) =>
      this.host
        .run(() => this.host.client.publish(this.channelOf(from), JSON.stringify({ ...body, id })))
        .catch((err: unknown) => {
          this.host.logger.warn('session store: a relayed retry could not be answered', {
            to: from,
            error: err instanceof Error ? err.message : String(err),
          });
        });
    await reply({ type: 'taken' });
    await reply({ type: 'answer', answer: await handler(retry) });
  }

  private gone(id: string): void {
    const waiting = this.waiting.get(id);
    if (!waiting) return;
    this.drop(id);
    waiting.reject(
      new HeldCallUnreachableError(
        `no replica ${waiting.to} took the relayed retry within ${this.host.ackMs} ms`,
        'gone',
      ),
    );
  }

  private drop(id: string): void {
    const waiting = this.waiting.get(id);
    if (waiting) clearTimeout(waiting.timer);
    this.waiting.delete(id);
  }

  /** Fails what still waits (the store is closing). */
  close(): void {
    for (const id of [...this.waiting.keys()]) this.gone(id);
  }
}

type RelayMessage =
  | { type: 'retry'; id: string; from: string; retry: RelayedRetry }
  | { type: 'taken'; id: string }
  | { type: 'answer'; id: string; answer: RelayedAnswer };

function parse(raw: string): RelayMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const fields = value as Record<string, unknown>;
  if (typeof fields.id !== 'string') return undefined;
  switch (fields.type) {
    case 'retry':
      return typeof fields.from === 'string' && isRetry(fields.retry)
        ? { type: 'retry', id: fields.id, from: fields.from, retry: fields.retry }
        : undefined;
    case 'taken':
      return { type: 'taken', id: fields.id };
    case 'answer':
      return isAnswer(fields.answer)
        ? { type: 'answer', id: fields.id, answer: fields.answer }
        : undefined;
    default:
      return undefined;
  }
}

function isRetry(value: unknown): value is RelayedRetry {
  if (typeof value !== 'object' || value === null) return false;
  const { nonce, bound, responses } = value as Record<string, unknown>;
  if (typeof nonce !== 'string' || typeof responses !== 'object' || responses === null) {
    return false;
  }
  const b = bound as Record<string, unknown> | undefined;
  return typeof b?.session === 'string' && typeof b.call === 'string' && typeof b.args === 'string';
}

function isAnswer(value: unknown): value is RelayedAnswer {
  if (typeof value !== 'object' || value === null) return false;
  const fields = value as Record<string, unknown>;
  if ('result' in fields) return true;
  const error = fields.error as Record<string, unknown> | undefined;
  return typeof error?.code === 'number' && typeof error.message === 'string';
}
