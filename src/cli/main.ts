// mcpgate command line. `mcpgate help` lists the commands; `mcpgate help <command>` and
// `mcpgate <command> --help` print one command's options, defaults and an example.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../config/load.js';
import { PACKAGE_ROOT } from '../util/paths.js';
import { GATEWAY_VERSION } from '../util/version.js';
import { formatHelp, UsageError, wantsHelp, type CommandSpec } from '../util/command-spec.js';
import { AUDIT_VERIFY_SPEC, auditVerify } from './audit-command.js';
import { DOCTOR_SPEC, doctorCommand } from './doctor-command.js';
import { EVAL_SPEC, evalCommand } from './eval-command.js';
import {
  POLICY_BUILD_SPEC,
  POLICY_CHECK_SPEC,
  POLICY_TEST_SPEC,
  policyBuild,
  policyCheck,
  policyTest,
} from './policy-commands.js';
import { POLICY_NEW_SPEC, policyNew } from './policy-new-command.js';
import { POLICY_REPLAY_SPEC, replayCommand } from './replay-command.js';
import { BASELINE_LEARN_SPEC, baselineLearn } from './baseline-command.js';
import { SESSIONS_SPECS, sessionsCommand } from './sessions-command.js';
import { START_SPEC, startCommand } from './start-command.js';
import { TOOLS_PIN_SPEC, TOOLS_SCAN_SPEC, toolsPin, toolsScan } from './tools-command.js';
import {
  REGISTRY_ADD_SPEC,
  REGISTRY_VERIFY_SPEC,
  registryAdd,
  registryVerify,
} from './registry-command.js';

/** The development IdP's commands, from dev/ in a checkout (not shipped in the package or image). */
interface DevCommands {
  DEV_IDP_SPEC: CommandSpec;
  DEV_TOKEN_SPEC: CommandSpec;
  devIdpCommand(argv: string[]): Promise<number>;
  devTokenCommand(argv: string[]): Promise<number>;
}

async function devCommands(): Promise<DevCommands> {
  const module = pathToFileURL(join(PACKAGE_ROOT, 'dist/dev/idp/cli.js')).href;
  try {
    return (await import(module)) as DevCommands;
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    throw new Error(
      'dev-idp and dev-token are development commands: run them from a checkout of mcpgate after `npm run build` (the installed package and the container image do not include the development IdP)',
      { cause: err },
    );
  }
}

interface Command {
  /** The spec, or where to load it (the dev commands live outside the package). */
  spec: () => Promise<CommandSpec>;
  run: (argv: string[]) => Promise<number> | number;
}

const local = (spec: CommandSpec, run: Command['run']): Command => ({
  spec: () => Promise.resolve(spec),
  run,
});

const COMMANDS: ReadonlyMap<string, Command> = new Map([
  ['start', local(START_SPEC, startCommand)],
  ['eval', local(EVAL_SPEC, evalCommand)],
  ['doctor', local(DOCTOR_SPEC, doctorCommand)],
  ['policy build', local(POLICY_BUILD_SPEC, policyBuild)],
  ['policy check', local(POLICY_CHECK_SPEC, policyCheck)],
  ['policy test', local(POLICY_TEST_SPEC, policyTest)],
  ['policy replay', local(POLICY_REPLAY_SPEC, replayCommand)],
  ['policy new', local(POLICY_NEW_SPEC, policyNew)],
  ['sessions list', local(SESSIONS_SPECS.list, (argv) => sessionsCommand('list', argv))],
  ['sessions show', local(SESSIONS_SPECS.show, (argv) => sessionsCommand('show', argv))],
  ['sessions kill', local(SESSIONS_SPECS.kill, (argv) => sessionsCommand('kill', argv))],
  ['audit verify', local(AUDIT_VERIFY_SPEC, auditVerify)],
  ['tools scan', local(TOOLS_SCAN_SPEC, toolsScan)],
  ['tools pin', local(TOOLS_PIN_SPEC, toolsPin)],
  ['registry add', local(REGISTRY_ADD_SPEC, registryAdd)],
  ['registry verify', local(REGISTRY_VERIFY_SPEC, registryVerify)],
  ['baseline learn', local(BASELINE_LEARN_SPEC, baselineLearn)],
  [
    'dev-idp',
    {
      spec: async () => (await devCommands()).DEV_IDP_SPEC,
      run: async (argv) => (await devCommands()).devIdpCommand(argv),
    },
  ],
  [
    'dev-token',
    {
      spec: async () => (await devCommands()).DEV_TOKEN_SPEC,
      run: async (argv) => (await devCommands()).devTokenCommand(argv),
    },
  ],
]);

/** Commands with subcommands, and what the group is for. */
const GROUPS: ReadonlyMap<string, string> = new Map([
  ['policy', 'write, test and build the Rego policy'],
  ['sessions', "operate a running gateway's sessions (admin API)"],
  ['audit', 'check the tamper evidence of decision-log files'],
  ['tools', "review the upstreams' tools: scan for poisoning, pin approved definitions"],
  ['registry', 'the upstream registry: record what each upstream is, check it'],
  ['baseline', "learn each purpose's normal behaviour for the behaviour signals"],
]);

/** One-line summaries of the commands that are loaded only when used. */
const DEV_SUMMARIES: Readonly<Record<string, string>> = {
  'dev-idp': 'DEVELOPMENT ONLY: run a real OpenID Provider that mints tokens for the gateway',
  'dev-token': 'DEVELOPMENT ONLY: mint a user access token from the running dev-idp',
};

async function summaryOf(name: string): Promise<string> {
  const command = COMMANDS.get(name);
  if (DEV_SUMMARIES[name] !== undefined || !command) return DEV_SUMMARIES[name] ?? '';
  return (await command.spec()).summary;
}

/** Two columns: a name, then its summary. */
function table(rows: Array<[string, string]>): string[] {
  const width = Math.max(...rows.map(([name]) => name.length)) + 4;
  return rows.map(([name, summary]) => `  ${name.padEnd(width)}${summary}`);
}

async function topLevelHelp(): Promise<string> {
  const rows: Array<[string, string]> = [];
  for (const name of COMMANDS.keys()) rows.push([name, await summaryOf(name)]);
  rows.push(['help [COMMAND]', "this list, or one command's options, defaults and an example"]);
  rows.push(['version', 'print the version']);
  const lines = [
    `mcpgate ${GATEWAY_VERSION}: zero-trust gateway for the Model Context Protocol`,
    '',
    'Usage: mcpgate <command> [options]',
    '',
    'Commands:',
    ...table(rows),
    '',
    'Run `mcpgate help <command>` or `mcpgate <command> --help` for its options, defaults and an',
    'example, e.g. `mcpgate sessions list --help`.',
  ];
  return `${lines.join('\n')}\n`;
}

async function groupHelp(group: string): Promise<string> {
  const rows: Array<[string, string]> = [];
  for (const name of COMMANDS.keys()) {
    if (name.startsWith(`${group} `)) rows.push([name, await summaryOf(name)]);
  }
  const lines = [
    `mcpgate ${group}: ${GROUPS.get(group) ?? ''}`,
    '',
    `Usage: mcpgate ${group} <command> [options]`,
    '',
    'Commands:',
    ...table(rows),
    '',
    `Run \`mcpgate ${group} <command> --help\` for its options, defaults and an example.`,
  ];
  return `${lines.join('\n')}\n`;
}

/** The command named by the start of `words` (`policy build ...`), and the words after it. */
function resolveCommand(words: string[]): { name: string; rest: string[] } | undefined {
  const two = words.slice(0, 2).join(' ');
  if (COMMANDS.has(two)) return { name: two, rest: words.slice(2) };
  const one = words[0] ?? '';
  if (COMMANDS.has(one)) return { name: one, rest: words.slice(1) };
  return undefined;
}

/** What `help <words>` and `<words> --help` print; undefined for no such command. */
async function helpFor(words: string[]): Promise<string | undefined> {
  if (words.length === 0) return topLevelHelp();
  const found = resolveCommand(words);
  if (found) {
    const command = COMMANDS.get(found.name);
    return command ? formatHelp(await command.spec()) : undefined;
  }
  const group = words[0] ?? '';
  return GROUPS.has(group) ? groupHelp(group) : undefined;
}

/** Why `words` names no command, and where to look. */
function unknown(words: string[]): string {
  const group = words[0] ?? '';
  if (GROUPS.has(group)) {
    const sub = words[1];
    const commands = [...COMMANDS.keys()]
      .filter((n) => n.startsWith(`${group} `))
      .map((n) => n.slice(group.length + 1));
    const what =
      sub === undefined || sub.startsWith('-')
        ? `${group} needs a command`
        : `unknown command "${group} ${sub}"`;
    return `${what} (${commands.join(', ')}); run \`mcpgate help ${group}\` for what each does`;
  }
  return `unknown command "${group}"; run \`mcpgate help\` for the list of commands`;
}

async function main(argv: string[]): Promise<number> {
  const [first] = argv;
  if (first === undefined || first === '--help' || first === '-h') {
    process.stdout.write(await topLevelHelp());
    return 0;
  }
  if (first === 'version' || first === '--version') {
    console.log(GATEWAY_VERSION);
    return 0;
  }
  if (first === 'help') {
    const words = argv.slice(1);
    const text = await helpFor(words);
    if (text === undefined) {
      console.error(`mcpgate help: ${unknown(words)}`);
      return 2;
    }
    process.stdout.write(text);
    return 0;
  }
  const found = resolveCommand(argv);
  if (wantsHelp(argv)) {
    const words = found ? found.name.split(' ') : argv.filter((a) => a !== '--help' && a !== '-h');
    const text = await helpFor(words);
    if (text !== undefined) {
      process.stdout.write(text);
      return 0;
    }
  }
  if (!found) {
    console.error(`mcpgate: ${unknown(argv)}`);
    return 2;
  }
  const command = COMMANDS.get(found.name);
  if (!command) return 2;
  try {
    return await command.run(found.rest);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(
      `mcpgate ${err.command}: ${err.message}\nRun \`mcpgate ${err.command} --help\` for its options.`,
    );
    return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const message = err instanceof ConfigError || err instanceof Error ? err.message : String(err);
    console.error(`mcpgate: ${message}`);
    process.exit(1);
  },
);
