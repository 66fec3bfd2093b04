// The cancellation of one request in flight, from the client's notifications/cancelled (or
// its session closing) to the upstream call it started. An AbortController per request cost
// more CPU (an EventTarget, listener wrappers) than the gateway's own work on it.

/** What a request's consumers see: whether it was cancelled, and a way to hear of it. */
export interface Cancellation {
  readonly cancelled: boolean;
  /** Why, once cancelled. */
  readonly reason: unknown;
  /** `listener` runs once, when the request is cancelled (not if it already was). */
  onCancel(listener: (reason: unknown) => void): void;
  offCancel(listener: (reason: unknown) => void): void;
}

export class CancellationSource implements Cancellation {
  private state: { reason: unknown } | undefined;
  private listeners: Array<(reason: unknown) => void> | undefined;

  get cancelled(): boolean {
    return this.state !== undefined;
  }

  get reason(): unknown {
    return this.state?.reason;
  }

  onCancel(listener: (reason: unknown) => void): void {
    if (this.state) return;
    (this.listeners ??= []).push(listener);
  }

  offCancel(listener: (reason: unknown) => void): void {
    const at = this.listeners?.indexOf(listener) ?? -1;
    if (at !== -1) this.listeners!.splice(at, 1);
  }

  /** Cancels once; every listener runs, even if one throws (the first error is rethrown). */
  cancel(reason: unknown): void {
    if (this.state) return;
    this.state = { reason };
    const listeners = this.listeners ?? [];
    this.listeners = undefined;
    let failure: { error: unknown } | undefined;
    for (const listener of listeners) {
      try {
        listener(reason);
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
  }
}

/** Cancelled as soon as any of `sources` is (with its reason); one listener on each. */
export function eitherCancelled(...sources: Array<Cancellation | undefined>): Cancellation {
  const combined = new CancellationSource();
  for (const source of sources) {
    if (!source) continue;
    if (source.cancelled) {
      combined.cancel(source.reason);
      break;
    }
    source.onCancel((reason) => combined.cancel(reason));
  }
  return combined;
}
