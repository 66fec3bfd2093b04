// TimedStore (metrics on) must hand every argument on to the store it times: it once dropped
// recordFindings' sketches, so argument provenance never saw a labelled result whenever
// metrics were on.
import { sketchOf } from '../../src/inspect/provenance.js';
import { MemoryStore } from '../../src/sessions/memory-store.js';
import { TimedStore, type StoreOperation } from '../../src/sessions/timed-store.js';

describe('TimedStore', () => {
  it('passes sketches on with the labels, and reports each operation', async () => {
    const inner = new MemoryStore();
    const seen: StoreOperation[] = [];
    const store = new TimedStore(inner, (operation, seconds, failed) => {
      expect(seconds).toBeGreaterThanOrEqual(0);
      expect(failed).toBe(false);
      seen.push(operation);
    });
    const id = 'timed-session';
    await store.create(
      {
        id,
        principal: 'issuer\u0000alice',
        subject: 'alice',
        purpose: 'code-review',
        createdAt: Date.now(),
        expiresAt: null,
        protocolVersion: '2025-11-25',
        clientInfo: null,
        clientCapabilities: {},
      },
      60_000,
    );
    const sketch = sketchOf(['Northwind Traders renews in March']);
    expect(await store.recordFindings(id, ['pii'], { pii: 1 }, { pii: sketch })).toBe(true);
    const loaded = await store.load(id, 10, []);
    expect(loaded?.dlp?.labels).toEqual(['pii']);
    expect(loaded?.behaviour?.sketches).toEqual({ pii: sketch });
    expect(seen).toEqual(['create', 'record_findings', 'load']);
    await inner.close();
  });
});
