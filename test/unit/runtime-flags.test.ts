// `mcpgate start` re-executes itself with the gateway's V8 flags (src/cli/runtime-flags.ts).
import { describe, expect, it } from '@jest/globals';
import { GATEWAY_V8_FLAGS, gatewayExecArgs } from '../../src/cli/runtime-flags.js';

const NODE = '/usr/bin/node';
const START = [NODE, '/app/bin/mcpgate.js', 'start', '--config', 'mcpgate.yaml'];

describe('the gateway V8 flags', () => {
  it('adds the default flags for start, before the script, keeping the given ones', () => {
    expect(gatewayExecArgs(NODE, START, ['--enable-source-maps'], {})).toEqual([
      NODE,
      ...GATEWAY_V8_FLAGS,
      '--enable-source-maps',
      '/app/bin/mcpgate.js',
      'start',
      '--config',
      'mcpgate.yaml',
    ]);
  });

  it('leaves every other command alone', () => {
    expect(gatewayExecArgs(NODE, [NODE, '/app/bin/mcpgate.js', 'policy', 'build'], [], {})).toBe(
      undefined,
    );
    expect(gatewayExecArgs(NODE, [NODE, '/app/bin/mcpgate.js'], [], {})).toBe(undefined);
  });

  it('does not add a flag given on the command line or in NODE_OPTIONS (so it runs once)', () => {
    expect(gatewayExecArgs(NODE, START, ['--max-semi-space-size=32'], {})).toBe(undefined);
    expect(
      gatewayExecArgs(NODE, START, [], { NODE_OPTIONS: '--max_semi_space_size=4 --no-warnings' }),
    ).toBe(undefined);
    const again = gatewayExecArgs(NODE, START, [], {}) as string[];
    expect(
      gatewayExecArgs(NODE, again.slice(0, 0).concat(again.slice(-5)), again.slice(1, -4), {}),
    ).toBe(undefined);
  });

  it('takes its list from MCPGATE_V8_FLAGS, and none when it is empty', () => {
    expect(gatewayExecArgs(NODE, START, [], { MCPGATE_V8_FLAGS: '' })).toBe(undefined);
    expect(
      gatewayExecArgs(NODE, START, [], {
        MCPGATE_V8_FLAGS: ' --max-semi-space-size=16  --max-old-space-size=512',
      }),
    ).toEqual([NODE, '--max-semi-space-size=16', '--max-old-space-size=512', ...START.slice(1)]);
  });
});
