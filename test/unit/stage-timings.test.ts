// MCPGATE_STAGE_TIMINGS: per-stage timings written at stop (src/main/stage-timings.ts).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stageTimingsFromEnv } from '../../src/main/stage-timings.js';

describe('stage timings (MCPGATE_STAGE_TIMINGS)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'stage-timings-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is off unless the variable names a file', () => {
    expect(stageTimingsFromEnv({})).toBeUndefined();
    expect(stageTimingsFromEnv({ MCPGATE_STAGE_TIMINGS: '' })).toBeUndefined();
  });

  it('writes count, mean, bucketed p50/p99 and total per method and stage, costliest first', () => {
    const file = join(dir, 'stages.json');
    const timings = stageTimingsFromEnv({ MCPGATE_STAGE_TIMINGS: file });
    if (timings === undefined) throw new Error('expected a collector');
    for (let i = 0; i < 99; i++) timings.timer('tools/call', 'decide', 3000);
    timings.timer('tools/call', 'decide', 100_000);
    timings.timer('tools/call', 'resolve target', 500);
    timings.write();
    const written = JSON.parse(readFileSync(file, 'utf8')) as {
      stages: Array<Record<string, unknown>>;
    };
    expect(written.stages).toEqual([
      {
        method: 'tools/call',
        stage: 'decide',
        count: 100,
        mean_us: 4,
        // 3,000 ns lies in [2048, 4096): the estimate is the bucket's upper edge.
        p50_us: 4.1,
        p99_us: 4.1,
        total_ms: 0.4,
      },
      {
        method: 'tools/call',
        stage: 'resolve target',
        count: 1,
        mean_us: 0.5,
        p50_us: 0.5,
        p99_us: 0.5,
        total_ms: 0,
      },
    ]);
  });
});
