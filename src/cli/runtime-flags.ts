// `mcpgate start` runs the gateway with V8 flags chosen for it (docs/performance.md, "Young
// generation"): V8 sizes its young generation by the machine's memory, up to 64 MB of
// semi-spaces on a large host, which a gateway's short-lived request objects never need;
// capped, the gateway starts and stays smaller. Flags only V8 reads at start-up, so the
// process replaces itself once (process.execve: same pid, same stdio) with them added.
// MCPGATE_V8_FLAGS overrides the list ("" for none); a flag already given on the command
// line or in NODE_OPTIONS is left as given. A flag Node.js would refuse stops the start here,
// naming the variable, rather than as Node's bare "bad option" after the exec.
import { McpgateError } from '../util/errors.js';

/** MCPGATE_V8_FLAGS names a flag Node.js does not accept. */
export class V8FlagsError extends McpgateError {
  static override readonly code = 'ERR_V8_FLAGS';
}

/** The flags `mcpgate start` adds by default. */
export const GATEWAY_V8_FLAGS: readonly string[] = ['--max-semi-space-size=8'];

/** The name of a `--flag=value` or `--flag value` flag, `_` read as `-` (as Node does). */
function flagName(flag: string): string {
  return (flag.split('=')[0] as string).replaceAll('_', '-');
}

/**
 * The argv to replace this process with so that the gateway's V8 flags apply, or undefined
 * when there is nothing to add: not `start`, every flag already in effect, or turned off.
 */
export function gatewayExecArgs(
  execPath: string,
  argv: readonly string[],
  execArgv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  /** The flags this Node.js accepts (process.allowedNodeEnvironmentFlags). */
  accepted: ReadonlySet<string>,
): string[] | undefined {
  if (argv[2] !== 'start') return undefined;
  const wanted =
    env.MCPGATE_V8_FLAGS === undefined
      ? GATEWAY_V8_FLAGS
      : env.MCPGATE_V8_FLAGS.split(/\s+/).filter((f) => f !== '');
  const given = new Set(
    [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)]
      .filter((f) => f.startsWith('--'))
      .map(flagName),
  );
  const refused = wanted.filter((flag) => !accepted.has(flag.split('=')[0] as string));
  if (refused.length > 0) {
    throw new V8FlagsError(
      `MCPGATE_V8_FLAGS: ${refused.join(', ')} ${refused.length === 1 ? 'is not a flag' : 'are not flags'} this Node.js accepts (${process.version}); give V8 or Node.js flags as \`--name=value\`, or set MCPGATE_V8_FLAGS= (empty) for none`,
    );
  }
  const added = wanted.filter((flag) => !given.has(flagName(flag)));
  if (added.length === 0) return undefined;
  return [execPath, ...added, ...execArgv, ...argv.slice(1)];
}
