// The Node.js runtime check of `mcpgate start`: a security gateway does not run on a
// Node.js release older than the one package.json's `engines.node` names (the LTS line it
// is built and tested on), since older lines are at or near their end of life and get no
// security fixes. The other commands (policy tools, clients) run anywhere.
import { McpgateError } from './errors.js';
import { NODE_ENGINES } from './version.js';

export class UnsupportedRuntimeError extends McpgateError {
  static override readonly code = 'ERR_UNSUPPORTED_RUNTIME';
}

type Version = readonly [major: number, minor: number, patch: number];

/** `>=24.11`, `>=24`, `>=24.11.0`: the only form package.json uses, a lower bound. */
export function parseMinimum(range: string): Version {
  const match = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(range.trim());
  if (!match) {
    throw new UnsupportedRuntimeError(
      `package.json engines.node is "${range}"; mcpgate reads only a lower bound such as ">=24.11"`,
    );
  }
  return [Number(match[1]), Number(match[2] ?? 0), Number(match[3] ?? 0)];
}

function parseVersion(version: string): Version {
  const [major = 0, minor = 0, patch = 0] = version
    .replace(/^v/, '')
    .split('.')
    .map((part) => Number.parseInt(part, 10) || 0);
  return [major, minor, patch];
}

function atLeast(version: Version, minimum: Version): boolean {
  for (let i = 0; i < 3; i++) {
    const [have, want] = [version[i] ?? 0, minimum[i] ?? 0];
    if (have !== want) return have > want;
  }
  return true;
}

/**
 * Throws when `version` (this process's Node.js by default) is older than `engines`, saying
 * how to run the gateway on a supported one.
 */
export function assertSupportedRuntime(
  version: string = process.versions.node,
  engines: string = NODE_ENGINES,
): void {
  const minimum = parseMinimum(engines);
  if (atLeast(parseVersion(version), minimum)) return;
  throw new UnsupportedRuntimeError(
    `the gateway needs Node.js ${minimum.join('.')} or newer (package.json engines.node "${engines}"); ` +
      `this process runs Node.js ${version.replace(/^v/, '')}, an older release than mcpgate is built, tested and supported on ` +
      '(older release lines are at or past their end of life: no security fixes). ' +
      'From a checkout, start it with `npm start -- --config FILE` or `npm run quickstart`, which use ' +
      '.tools/node/bin/node (scripts/install-node.sh installs it); the container image has a supported Node.js',
  );
}
