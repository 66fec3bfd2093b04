// What each CLI command accepts, written once: the same spec parses a command's arguments
// (node:util parseArgs reads `type`, `default` and `short` and ignores the rest) and prints
// its `--help`, so the help cannot list an option the command does not take, nor miss one.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { McpgateError } from './errors.js';

/** Help text is wrapped to this many columns. */
const HELP_WIDTH = 100;

export interface OptionSpec {
  type: 'string' | 'boolean';
  /** What the value is, in usage and help: `FILE`, `URL`, `a,b`. String options only. */
  value?: string;
  default?: string | boolean;
  /** Shown as the default when it is not a literal value (`$MCPGATE_ADMIN_TOKEN`). */
  defaultText?: string;
  /** The option may be given more than once (string options: a list of values). */
  multiple?: boolean;
  /** The command cannot run without it: parseCommand refuses a command line that lacks it. */
  required?: boolean;
  help: string;
}

export interface CommandSpec {
  /** As typed after `mcpgate`: `policy build`. */
  name: string;
  /** One line: what the command does. */
  summary: string;
  /**
   * Positional arguments, in order (a command without them refuses any); a `variadic` last
   * one takes every argument left.
   */
  args?: ReadonlyArray<{ name: string; help: string; variadic?: boolean }>;
  options: Readonly<Record<string, OptionSpec>>;
  /** Usage lines when one generated from args and options would not say it well. */
  usage?: readonly string[];
  /** Paragraphs after the options: what else a user needs to know. */
  details?: readonly string[];
  /** A command line (or a few that belong together) a user can copy. */
  example: readonly string[];
}

/** A command line the command cannot run: the message says what is wrong. Exit status 2. */
export class UsageError extends McpgateError {
  static override readonly code = 'ERR_CLI_USAGE';

  constructor(
    /** The command as typed after `mcpgate` (`policy build`), for the pointer to its help. */
    readonly command: string,
    message: string,
  ) {
    super(message);
  }
}

/** True when the arguments ask for help (before a `--` that ends the options). */
export function wantsHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  const options = end === -1 ? argv : argv.slice(0, end);
  return options.includes('--help') || options.includes('-h');
}

type ParsedFor<O extends Readonly<Record<string, OptionSpec>>> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>
>;

/**
 * Parses `argv` by the spec's options. Unknown options, a missing value and (for a command
 * without positional arguments) stray arguments become a UsageError naming the command.
 */
export function parseCommand<O extends Readonly<Record<string, OptionSpec>>>(
  spec: CommandSpec & { options: O },
  argv: string[],
): ParsedFor<O> {
  const config: ParseArgsConfig = {
    args: argv,
    options: spec.options,
    allowPositionals: true,
    strict: true,
  };
  let parsed: ParsedFor<O>;
  try {
    parsed = parseArgs(config) as ParsedFor<O>;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      // Node's message goes on about positionals after `--`; the option is what matters.
      const option = /'([^']+)'/.exec((err as Error).message)?.[1] ?? '';
      throw new UsageError(spec.name, `unknown option ${option}`);
    }
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      throw new UsageError(spec.name, (err as Error).message);
    }
    throw err;
  }
  const values = parsed.values as Record<string, unknown>;
  const missing = Object.entries(spec.options).filter(
    ([name, o]) => o.required === true && (values[name] === undefined || values[name] === ''),
  );
  if (missing.length > 0) {
    throw new UsageError(
      spec.name,
      `needs ${missing.map(([name, o]) => optionLabel(name, o)).join(' and ')}`,
    );
  }
  const allowed = spec.args?.at(-1)?.variadic === true ? Infinity : (spec.args?.length ?? 0);
  if (parsed.positionals.length > allowed) {
    const extra = parsed.positionals.slice(allowed);
    throw new UsageError(
      spec.name,
      `unexpected argument${extra.length > 1 ? 's' : ''} ${extra.map((a) => `'${a}'`).join(' ')}`,
    );
  }
  return parsed;
}

function optionLabel(name: string, option: OptionSpec): string {
  return option.type === 'string' ? `--${name} ${option.value ?? 'VALUE'}` : `--${name}`;
}

function defaultLabel(option: OptionSpec): string {
  if (option.defaultText !== undefined) return ` (default: ${option.defaultText})`;
  if (typeof option.default === 'string') return ` (default: ${option.default})`;
  return '';
}

/** The usage generated from the spec (positionals, then every option), wrapped. */
export function usageLines(spec: CommandSpec): string[] {
  const head = `mcpgate ${spec.name}`;
  const parts = [
    ...(spec.args ?? []).map((a) => a.name),
    ...Object.entries(spec.options).map(([name, o]) =>
      o.required === true ? optionLabel(name, o) : `[${optionLabel(name, o)}]`,
    ),
  ];
  const lines: string[] = [];
  let line = head;
  for (const part of parts) {
    if (line.length + 1 + part.length > HELP_WIDTH - 2 && line.trim() !== '') {
      lines.push(line);
      line = ' '.repeat(head.length) + ' ' + part;
    } else {
      line = `${line} ${part}`;
    }
  }
  lines.push(line);
  return lines;
}

/** Wraps text into lines of at most `width` characters (a longer word gets its own line). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

/** A two-column row: the label, then its text wrapped and indented to `indent`. */
function row(label: string, text: string, indent: number): string[] {
  const lines = wrap(text, HELP_WIDTH - indent).map((l) => ' '.repeat(indent) + l);
  const head = `  ${label}`;
  if (head.length + 2 > indent) return [head, ...lines];
  lines[0] = head.padEnd(indent) + (lines[0] ?? '').trimStart();
  return lines;
}

/** The text `mcpgate <command> --help` prints. */
export function formatHelp(spec: CommandSpec): string {
  const out: string[] = [`mcpgate ${spec.name}: ${spec.summary}`, '', 'Usage:'];
  for (const line of spec.usage ?? usageLines(spec)) out.push(`  ${line}`);
  const rows: Array<[string, string]> = [
    ...(spec.args ?? []).map((a): [string, string] => [a.name, a.help]),
    ...Object.entries(spec.options).map(([name, o]): [string, string] => [
      optionLabel(name, o),
      (o.required === true ? 'required: ' : '') + o.help + defaultLabel(o),
    ]),
    ['-h, --help', 'show this help'],
  ];
  // Labels up to 26 characters share their line with the text; longer ones get their own.
  const indent = Math.min(30, Math.max(...rows.map(([label]) => label.length)) + 4);
  out.push('', spec.args?.length ? 'Arguments and options:' : 'Options:');
  for (const [label, text] of rows) out.push(...row(label, text, indent));
  for (const paragraph of spec.details ?? []) out.push('', ...wrap(paragraph, HELP_WIDTH));
  out.push('', 'Example:', ...spec.example.map((line) => `  ${line}`));
  return `${out.join('\n')}\n`;
}
