// Help for every command, as a newcomer asks for it: `mcpgate <command> --help`,
// `mcpgate help <command>`, the groups (`policy`, `sessions`) and the top level; and the
// errors of a wrong command line, which name the command and point at its help. The
// expected options and defaults come from the same specs the commands parse with.
import { describe, expect, it } from '@jest/globals';
import type { CommandSpec } from '../../src/util/command-spec.js';
import { AUDIT_VERIFY_SPEC } from '../../src/cli/audit-command.js';
import { DOCTOR_SPEC } from '../../src/cli/doctor-command.js';
import { EVAL_SPEC } from '../../src/cli/eval-command.js';
import {
  POLICY_BUILD_SPEC,
  POLICY_CHECK_SPEC,
  POLICY_TEST_SPEC,
} from '../../src/cli/policy-commands.js';
import { POLICY_NEW_SPEC } from '../../src/cli/policy-new-command.js';
import { POLICY_REPLAY_SPEC } from '../../src/cli/replay-command.js';
import { SESSIONS_SPECS } from '../../src/cli/sessions-command.js';
import { START_SPEC } from '../../src/cli/start-command.js';
import { TOOLS_PIN_SPEC, TOOLS_SCAN_SPEC } from '../../src/cli/tools-command.js';
import { REGISTRY_ADD_SPEC, REGISTRY_VERIFY_SPEC } from '../../src/cli/registry-command.js';
import { BASELINE_LEARN_SPEC } from '../../src/cli/baseline-command.js';
import { DEV_IDP_SPEC, DEV_TOKEN_SPEC } from '../../dev/idp/cli.js';
import { runCli, type CliResult } from './support/cli.js';

/** No admin token from the caller's environment: the commands must work without one. */
function cli(args: string[]): Promise<CliResult> {
  return runCli(args, { env: { ...process.env, MCPGATE_ADMIN_TOKEN: '' } });
}

const SPECS: CommandSpec[] = [
  START_SPEC,
  EVAL_SPEC,
  DOCTOR_SPEC,
  POLICY_BUILD_SPEC,
  POLICY_CHECK_SPEC,
  POLICY_TEST_SPEC,
  POLICY_REPLAY_SPEC,
  POLICY_NEW_SPEC,
  SESSIONS_SPECS.list,
  SESSIONS_SPECS.show,
  SESSIONS_SPECS.kill,
  AUDIT_VERIFY_SPEC,
  TOOLS_SCAN_SPEC,
  TOOLS_PIN_SPEC,
  REGISTRY_ADD_SPEC,
  REGISTRY_VERIFY_SPEC,
  BASELINE_LEARN_SPEC,
  DEV_IDP_SPEC,
  DEV_TOKEN_SPEC,
];

/** What every command's help must show: its name, usage, each option with its default, an example. */
function expectCompleteHelp(spec: CommandSpec, text: string): void {
  expect(text.startsWith(`mcpgate ${spec.name}: ${spec.summary}\n`)).toBe(true);
  expect(text).toContain('Usage:\n  mcpgate ' + spec.name);
  const flowing = text.replace(/\s+/g, ' ');
  for (const [name, option] of Object.entries(spec.options)) {
    expect(text).toContain(`--${name}`);
    if (typeof option.default === 'string') {
      expect(flowing).toContain(`(default: ${option.default})`);
    }
    if (option.defaultText !== undefined) {
      expect(flowing).toContain(`(default: ${option.defaultText})`);
    }
  }
  for (const arg of spec.args ?? []) expect(text).toContain(arg.name);
  expect(text).toContain('-h, --help');
  expect(text).toMatch(/\nExample:\n {2}\S/);
  // Nothing wider than the 100 columns the text is wrapped to, except the example itself.
  const body = text.slice(0, text.indexOf('\nExample:'));
  for (const line of body.split('\n')) expect(line.length).toBeLessThanOrEqual(100);
}

describe('mcpgate <command> --help and mcpgate help <command>', () => {
  it.each(SPECS.map((spec) => [spec.name, spec] as const))(
    '%s: options, defaults and an example, both ways, exit 0',
    async (name, spec) => {
      const words = name.split(' ');
      const viaFlag = await cli([...words, '--help']);
      expect(viaFlag.code).toBe(0);
      expectCompleteHelp(spec, viaFlag.stdout);
      const viaHelp = await cli(['help', ...words]);
      expect(viaHelp.code).toBe(0);
      expect(viaHelp.stdout).toBe(viaFlag.stdout);
    },
  );

  it('prints help (-h too) even when other arguments are missing or wrong', async () => {
    // Without --help these fail (no admin token, no session id, unknown option).
    for (const [args, title] of [
      [['sessions', 'list', '--help'], 'mcpgate sessions list:'],
      [['sessions', 'kill', '-h'], 'mcpgate sessions kill:'],
      [['eval', '--bogus', '--help'], 'mcpgate eval:'],
    ] as const) {
      const result = await cli([...args]);
      expect(result.code).toBe(0);
      expect(result.stdout.startsWith(title)).toBe(true);
    }
  });

  it("lists a group's commands: mcpgate sessions --help, mcpgate help policy", async () => {
    const sessions = await cli(['sessions', '--help']);
    expect(sessions.code).toBe(0);
    expect(sessions.stdout).toContain("mcpgate sessions: operate a running gateway's sessions");
    for (const sub of ['list', 'show', 'kill'])
      expect(sessions.stdout).toContain(`sessions ${sub}`);
    expect((await cli(['help', 'sessions'])).stdout).toBe(sessions.stdout);

    const policy = await cli(['help', 'policy']);
    expect(policy.code).toBe(0);
    for (const sub of ['build', 'check', 'test', 'replay', 'new']) {
      expect(policy.stdout).toContain(`policy ${sub}`);
    }
  });

  it('lists every command at the top level: mcpgate help, --help, no arguments', async () => {
    const top = await cli(['help']);
    expect(top.code).toBe(0);
    for (const spec of SPECS) expect(top.stdout).toContain(`  ${spec.name} `);
    expect(top.stdout).toContain('mcpgate <command> --help');
    for (const line of top.stdout.split('\n')) expect(line.length).toBeLessThanOrEqual(100);
    expect((await cli(['--help'])).stdout).toBe(top.stdout);
    expect((await cli([])).stdout).toBe(top.stdout);
  });
});

describe('mcpgate start --explain', () => {
  it('prints the request chains of a configuration and exits, starting nothing', async () => {
    const result = await cli([
      'start',
      '--config',
      'examples/quickstart/mcpgate.yaml',
      '--explain',
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^tools\/call\n {3}1\. resolve target\n/);
    expect(result.stdout).toContain('3. decide (mcp/authz/decision)');
  });
});

describe('command-line errors name the command and its help (exit 2)', () => {
  it.each([
    [['eval', '--bogus'], 'mcpgate eval: unknown option --bogus'],
    [['policy', 'build', '--verbose'], 'mcpgate policy build: unknown option --verbose'],
    [['policy', 'replay', '--log', 'x.log'], 'mcpgate policy replay: needs --bundle FILE'],
    [['dev-token'], 'mcpgate dev-token: needs --user NAME'],
    [['start', 'extra'], "mcpgate start: unexpected argument 'extra'"],
    [
      ['sessions', 'list', '--url'],
      "mcpgate sessions list: Option '--url <value>' argument missing",
    ],
    [
      ['sessions', 'list'],
      'mcpgate sessions list: needs an admin token: --token TOKEN or the environment variable MCPGATE_ADMIN_TOKEN (with the quickstart: --token "$(mcpgate dev-token --user admin --roles mcpgate.admin)")',
    ],
    [['sessions', 'show'], 'mcpgate sessions show: needs a session id: mcpgate sessions show ID'],
  ])('%j', async (args, message) => {
    const result = await cli(args);
    expect(result.code).toBe(2);
    const command = message.slice('mcpgate '.length, message.indexOf(':'));
    expect(result.stderr).toBe(`${message}\nRun \`mcpgate ${command} --help\` for its options.\n`);
  });

  it('names the commands of a group when the command is missing or unknown', async () => {
    const missing = await cli(['policy']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('policy needs a command (build, check, test, replay, new)');
    const wrong = await cli(['sessions', 'delete']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('unknown command "sessions delete" (list, show, kill)');
  });

  it('points at mcpgate help for an unknown command, also under help', async () => {
    const result = await cli(['serve']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'mcpgate: unknown command "serve"; run `mcpgate help` for the list of commands\n',
    );
    const help = await cli(['help', 'serve']);
    expect(help.code).toBe(2);
    expect(help.stderr).toContain('unknown command "serve"');
  });
});
