// Calls of 2026-07-28 clients that wait for their client's answers. A server cannot send a
// request to such a client: when an upstream of the handshake era asks for something during
// one of its calls (elicitation, sampling, roots: decided as always), the gateway answers
// the call with an InputRequiredResult of its own, holds the call (the upstream still
// waits for its answer) in this process, and resumes it when the client retries with its
// answers and the gateway's sealed requestState. A call is held for as long as a state
// lives; one whose client never comes back is failed (its questions answered with an error,
// which the upstream sees) and forgotten.
//
// The state names the replica that holds the call. A retry that reaches another replica is
// relayed to the holder through the shared session store (ReplicaRelay, Redis pub/sub),
// which resumes the call and sends back its answer (the result, or the next questions).
import { STATE_LIFETIME_MS } from './request-state.js';
import { ClientRequestError } from './client-requests.js';
import type { Cancellation } from '../../util/cancellation.js';
import { McpgateError } from '../../util/errors.js';

type Fields = Record<string, unknown>;

/** What a held call's state is bound to: the session, the call, its arguments. */
export interface CallBinding {
  session: string;
  call: string;
  args: string;
}

/** A client's retry of a call another replica holds, as relayed to that replica. */
export interface RelayedRetry {
  /** The nonce of the state the client brought back (the held call's key). */
  nonce: string;
  /** What the relaying replica checked the state against (the holder checks it again). */
  bound: CallBinding;
  /** The client's inputResponses. */
  responses: Fields;
}

/** The holder's answer to a relayed retry: what the client is to be answered. */
export type RelayedAnswer =
  { result: unknown } | { error: { code: number; message: string; data?: unknown } };

/**
 * Carries retries between the replicas that share a session store (the Redis store's
 * pub/sub); the memory store has none (one process holds every call).
 */
export interface ReplicaRelay {
  /**
   * Sends `retry` to `replica` and resolves with its answer. Rejects with
   * HeldCallUnreachableError when that replica does not take it (gone) or takes it and does
   * not answer within `timeoutMs`, with the store's own error when the store is down.
   */
  send(replica: string, retry: RelayedRetry, timeoutMs: number): Promise<RelayedAnswer>;
  /** Serves, as `replica`, the retries other replicas send it. */
  serve(replica: string, handler: (retry: RelayedRetry) => Promise<RelayedAnswer>): void;
}

/** The replica that holds a call could not be reached, or did not answer in time. */
export class HeldCallUnreachableError extends McpgateError {
  static override readonly code = 'ERR_HELD_CALL_UNREACHABLE';

  constructor(
    message: string,
    /** gone: nobody took the retry; timeout: the holder took it and did not answer. */
    readonly reason: 'gone' | 'timeout',
  ) {
    super(message);
  }
}

/** What a held call's handler ended with. */
export type CallOutcome = { result: unknown } | { error: unknown };

/** One question for the client, waiting for its answer. */
export interface HeldQuestion {
  key: string;
  method: string;
  params: Fields | undefined;
  answer(value: Fields): void;
  fail(err: Error): void;
}

/** One call of a stateless client: its outcome, and the questions it has asked so far. */
export class HeldCall {
  private readonly open: HeldQuestion[] = [];
  private asked = 0;
  private wake: (() => void) | undefined;
  private outcomeValue: CallOutcome | undefined;

  constructor(handled: Promise<unknown>) {
    void handled.then(
      (result) => this.settle({ result }),
      (error: unknown) => this.settle({ error }),
    );
  }

  /** A question for the client (on behalf of an upstream); resolves with the client's answer. */
  ask(method: string, params: Fields | undefined, cancellation?: Cancellation): Promise<Fields> {
    return new Promise<Fields>((resolve, reject) => {
      const question: HeldQuestion = {
        key: `q${++this.asked}`,
        method,
        params,
        answer: resolve,
        fail: reject,
      };
      this.open.push(question);
      cancellation?.onCancel((reason) => {
        const at = this.open.indexOf(question);
        if (at >= 0) this.open.splice(at, 1);
        reject(new ClientRequestError(`${method} was withdrawn: ${String(reason)}`));
      });
      this.poke();
    });
  }

  /** Waits until the call has ended, or has questions for the client (taken off it). */
  async next(): Promise<{ done: CallOutcome } | { asked: HeldQuestion[] }> {
    for (;;) {
      if (this.outcomeValue) return { done: this.outcomeValue };
      if (this.open.length > 0) return { asked: this.open.splice(0) };
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private settle(outcome: CallOutcome): void {
    this.outcomeValue = outcome;
    this.poke();
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** The held calls of this process, by the nonce of the state their client was given. */
export class HeldCalls {
  private readonly held = new Map<
    string,
    { call: HeldCall; asked: HeldQuestion[]; bound: CallBinding; timer: NodeJS.Timeout }
  >();

  hold(nonce: string, call: HeldCall, asked: HeldQuestion[], bound: CallBinding): void {
    const timer = setTimeout(() => {
      this.held.delete(nonce);
      for (const question of asked) {
        question.fail(
          new ClientRequestError(`the client did not answer ${question.method} in time`),
        );
      }
    }, STATE_LIFETIME_MS);
    timer.unref();
    this.held.set(nonce, { call, asked, bound, timer });
  }

  /**
   * The call and the questions it waits on; undefined when no call bound to `bound` is held
   * for it here.
   */
  take(nonce: string, bound: CallBinding): { call: HeldCall; asked: HeldQuestion[] } | undefined {
    const entry = this.held.get(nonce);
    if (!entry) return undefined;
    const same =
      entry.bound.session === bound.session &&
      entry.bound.call === bound.call &&
      entry.bound.args === bound.args;
    if (!same) return undefined;
    this.held.delete(nonce);
    clearTimeout(entry.timer);
    return { call: entry.call, asked: entry.asked };
  }
}
