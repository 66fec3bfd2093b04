// `mcpgate start` re-executes itself with the gateway's V8 flags (src/cli/runtime-flags.ts).
import { describe, expect, it } from '@jest/globals';
import {
  GATEWAY_V8_FLAGS,
  gatewayExecArgs as execArgs,
  V8FlagsError,
} from '../../src/cli/runtime-flags.js';

const gatewayExecArgs = (
  execPath: string,
  argv: readonly string[],
  execArgv: readonly string[],
  env: Record<string, string | undefined>,
): string[] | undefined =>
  execArgs(execPath, argv, execArgv, env, process.allowedNodeEnvironmentFlags);

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
    // The process it replaces itself with has the flags in its execArgv: no second exec.
    expect(gatewayExecArgs(NODE, START, [...GATEWAY_V8_FLAGS], {})).toBe(undefined);
  });

  it('takes its list from MCPGATE_V8_FLAGS, and none when it is empty', () => {
    expect(gatewayExecArgs(NODE, START, [], { MCPGATE_V8_FLAGS: '' })).toBe(undefined);
    expect(
      gatewayExecArgs(NODE, START, [], {
        MCPGATE_V8_FLAGS: ' --max-semi-space-size=16  --max-old-space-size=512',
      }),
    ).toEqual([NODE, '--max-semi-space-size=16', '--max-old-space-size=512', ...START.slice(1)]);
  });

  it('refuses a flag Node.js would not accept, naming the variable (the start stops there)', () => {
    expect(() =>
      gatewayExecArgs(NODE, START, [], {
        MCPGATE_V8_FLAGS: '--max-semi-space-size=8 --no-such-flag',
      }),
    ).toThrow(V8FlagsError);
    expect(() => gatewayExecArgs(NODE, START, [], { MCPGATE_V8_FLAGS: '--no-such-flag' })).toThrow(
      /^MCPGATE_V8_FLAGS: --no-such-flag is not a flag this Node\.js accepts/,
    );
    // Other commands never read it.
    expect(
      gatewayExecArgs(NODE, [NODE, '/app/bin/mcpgate.js', 'help'], [], {
        MCPGATE_V8_FLAGS: '--no-such-flag',
      }),
    ).toBe(undefined);
  });
});
