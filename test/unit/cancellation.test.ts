// The cancellation of one request: listeners run once, with the reason; removed listeners
// and listeners added too late do not run; one failing listener does not keep the others
// from running.
import { describe, expect, it } from '@jest/globals';
import { CancellationSource, eitherCancelled } from '../../src/util/cancellation.js';

describe('CancellationSource', () => {
  it('runs each listener once with the reason, and stays cancelled', () => {
    const source = new CancellationSource();
    const heard: unknown[] = [];
    source.onCancel((reason) => heard.push(reason));
    expect(source.cancelled).toBe(false);
    source.cancel('stop');
    source.cancel('again');
    expect(heard).toEqual(['stop']);
    expect(source.cancelled).toBe(true);
    expect(source.reason).toBe('stop');
  });

  it('does not run a removed listener, nor one added after the cancellation', () => {
    const source = new CancellationSource();
    const heard: string[] = [];
    const removed = (): void => void heard.push('removed');
    source.onCancel(removed);
    source.onCancel(() => heard.push('kept'));
    source.offCancel(removed);
    source.cancel(undefined);
    source.onCancel(() => heard.push('late'));
    expect(heard).toEqual(['kept']);
  });

  it('runs every listener even when one throws, then rethrows the first error', () => {
    const source = new CancellationSource();
    const heard: string[] = [];
    source.onCancel(() => {
      throw new Error('first');
    });
    source.onCancel(() => heard.push('second'));
    expect(() => source.cancel('x')).toThrow('first');
    expect(heard).toEqual(['second']);
  });
});

describe('eitherCancelled', () => {
  it('is cancelled by whichever source is cancelled first, with its reason', () => {
    const upstream = new CancellationSource();
    const client = new CancellationSource();
    const either = eitherCancelled(upstream, undefined, client);
    expect(either.cancelled).toBe(false);
    client.cancel('the client cancelled the call');
    expect(either.cancelled).toBe(true);
    expect(either.reason).toBe('the client cancelled the call');
    upstream.cancel('later');
    expect(either.reason).toBe('the client cancelled the call');
  });

  it('is cancelled at once when a source already is', () => {
    const done = new CancellationSource();
    done.cancel('already');
    expect(eitherCancelled(new CancellationSource(), done).reason).toBe('already');
  });
});
