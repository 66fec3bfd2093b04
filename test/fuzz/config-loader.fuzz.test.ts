// Fuzzing the configuration loader: a configuration that uses every section (issuers of each
// profile, a bundle server with signing keys, Redis sessions with rate limits, decision-log
// destinations of each type, stdio and HTTP upstreams with each kind of credential) is
// changed and loaded.
//
// 1. As an object (parseConfig): a value anywhere replaced by another of any type, removed,
//    or given an unknown neighbour; strings with any code point; numbers at and past their
//    bounds; __proto__ and constructor keys.
// 2. As YAML text (loadConfigFile, a smaller configuration): characters changed, added or
//    dropped, and YAML's own features put in (anchors and aliases, merge keys, tags,
//    duplicate keys, tabs).
//
// Either the configuration loads, or a ConfigError with a message a user can act on (it
// names the file or "config", and has a line saying what is wrong); never another error,
// and Object.prototype is never changed.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { ConfigError, loadConfigFile, parseConfig } from '../../src/config/load.js';
import { anyText } from './support/gateway.js';
import {
  checkProperty,
  must,
  mustKeepObjectPrototype,
  scratchDir,
  timeoutFor,
} from './support/property.js';

const RUNS = 10_000;
const BASE_DIR = '/srv/mcpgate';

const BASE = {
  gateway: {
    id: 'gw-1',
    host: '127.0.0.1',
    port: 8080,
    public_url: 'https://gw.example.com',
    max_body_bytes: 1048576,
    allowed_origins: ['https://app.example.com'],
  },
  sessions: {
    default_purpose: 'code-review',
    max_sessions: 1000,
    history_limit: 20,
    store: { type: 'redis', url: 'env:REDIS_URL', key_prefix: 'mcpgate:' },
    rate_limits: { per_session: { limit: 100, window_s: 60 }, per_tool: { limit: 5, window_s: 1 } },
  },
  auth: {
    issuers: [
      { profile: 'okta', issuer: 'https://dev-1.okta.com/oauth2/default', groups_claim: 'groups' },
      {
        profile: 'entra',
        tenants: ['72f988bf-86f1-41af-91ab-2d7cd011db47'],
        audiences: ['api://mcpgate'],
      },
      {
        profile: 'oidc',
        issuer: 'https://idp.example.com',
        jwks_uri: 'https://idp.example.com/keys',
        algorithms: ['RS256', 'ES256'],
      },
    ],
    clock_tolerance_s: 30,
    required_scopes: ['mcp'],
  },
  policy: {
    source: {
      http: {
        url: 'https://bundles.example.com/b.tar.gz',
        headers: { Authorization: 'env:BUNDLE_TOKEN' },
      },
    },
    signing: {
      required: true,
      keys: [{ key_id: 'k1', algorithm: 'HS256', key: 'env:SIGNING_KEY' }],
    },
    max_bundle_bytes: 67108864,
  },
  audit: {
    destinations: [
      { type: 'stdout' },
      { type: 'file', path: 'decisions.log', max_buffer_bytes: 1048576 },
      { type: 'service', url: 'https://logs.example.com/v1', headers: { 'X-Key': 'file:key.txt' } },
    ],
  },
  logging: { level: 'info' },
  upstreams: {
    filesystem: { transport: 'stdio', command: 'mcp-server-filesystem', args: ['.'], cwd: 'demo' },
    github: {
      transport: 'http',
      url: 'https://github-mcp.example.com/mcp',
      timeout_s: 30,
      isolation: 'per-session',
      credential: {
        type: 'token-exchange',
        issuer: 'https://dev-1.okta.com/oauth2/default',
        audience: 'api://github',
        client_id: 'gw',
        client_secret: 'env:GW_SECRET',
      },
    },
    docs: {
      transport: 'http',
      url: 'https://docs.example.com/mcp',
      credential: { type: 'static-secret', value: 'env:DOCS_TOKEN' },
    },
  },
};

let dir: string;

beforeAll(() => {
  dir = scratchDir('mcpgate-fuzz-config-');
  // The base must load: the changes are measured from a valid configuration.
  expect(parseConfig(structuredClone(BASE), BASE_DIR).upstreams).toHaveLength(3);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Loads; a ConfigError must say what is wrong, and nothing else may be thrown. */
function load(what: string, run: () => unknown): void {
  try {
    run();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    must(err.message.includes(what), () => `message does not name ${what}: ${err.message}`);
    // What is wrong follows the name: "… is invalid:\n  - path: problem", "… is not valid YAML: …".
    const rest = err.message.slice(err.message.indexOf(what) + what.length);
    must(/[A-Za-z]{3}/.test(rest), () => `message says nothing: ${err.message}`);
  }
  mustKeepObjectPrototype();
}

// ---------------------------------------------------------------------------------------
// Object changes.

/** Every path to a value in the base configuration. */
function pathsOf(value: unknown, at: Array<string | number> = []): Array<Array<string | number>> {
  if (typeof value !== 'object' || value === null) return [at];
  const entries = Array.isArray(value)
    ? value.map((v, i) => [i, v] as const)
    : Object.entries(value as Record<string, unknown>);
  return [at, ...entries.flatMap(([k, v]) => pathsOf(v, [...at, k]))];
}

const PATHS = pathsOf(BASE);

const replacement = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  anyText(20),
  fc.constantFrom(0, -1, 0.5, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 65536, 86401, 3601),
  fc.constantFrom('', ' ', 'env:', 'file:', 'env:1X', 'file:/etc/passwd', 'http://x', 'ftp://x'),
  fc.constant({ __proto__: { polluted: 1 } }),
  fc.constant(JSON.parse('{"__proto__": {"polluted": 1}}') as unknown),
);

type Change = [kind: 'set' | 'delete' | 'add', path: number, value: unknown, key: string];

const objectChange: fc.Arbitrary<Change> = fc.tuple(
  fc.constantFrom('set', 'set', 'delete', 'add'),
  fc.nat({ max: PATHS.length - 1 }),
  replacement,
  fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'extra'), anyText(8)),
);

function applyChange(config: unknown, [kind, index, value, key]: Change): unknown {
  const path = PATHS[index]!;
  if (path.length === 0) return kind === 'set' ? value : config;
  if (typeof config !== 'object' || config === null) return config;
  let node = config as Record<string | number, unknown>;
  for (const step of path.slice(0, -1)) {
    const next = node[step];
    if (typeof next !== 'object' || next === null) return config;
    node = next as Record<string | number, unknown>;
  }
  const last = path[path.length - 1]!;
  if (kind === 'set') node[last] = value;
  else if (kind === 'delete') delete node[last];
  else {
    Object.defineProperty(node, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return config;
}

// ---------------------------------------------------------------------------------------
// Text changes.

/**
 * The file: the base without its longest parts (the second and third issuer, two of the
 * three destinations, the token-exchange upstream), about half its size. The YAML parser
 * costs most of a case here, and the object changes above reach every section already.
 */
const BASE_YAML = stringify({
  ...BASE,
  auth: { ...BASE.auth, issuers: BASE.auth.issuers.slice(0, 1) },
  audit: { destinations: BASE.audit.destinations.slice(1, 2) },
  upstreams: { filesystem: BASE.upstreams.filesystem, docs: BASE.upstreams.docs },
});

const yamlSnippet = fc.constantFrom(
  'a: &a [1, 2]\nb: [*a, *a, *a, *a]\n',
  '<<: {port: 9}\n',
  '__proto__: {polluted: 1}\n',
  'port: !!str 80\n',
  'port: !!binary AAAA\n',
  'x: !!js/function "f()"\n',
  'gateway: {}\ngateway: {}\n',
  '\t',
  ': :',
  '---\n',
  '...\n',
  '? complex\n: key\n',
  '*undefined_alias',
  '%YAML 1.1\n---\n',
  'port: 0x1F90\n',
  'port: 1_000\n',
  'level: yes\n',
);

const textChange = fc.tuple(
  fc.constantFrom('replace', 'insert', 'drop', 'snippet'),
  fc.nat(),
  fc.oneof(
    fc.string({ unit: 'binary', minLength: 1, maxLength: 3 }),
    fc.constantFrom(':', '-', ' ', '\n', '"', "'", '{', '[', '#', '&', '*', '!', '|', '>'),
  ),
  yamlSnippet,
);

function changeText(text: string, [how, at, c, snippet]: [string, number, string, string]): string {
  const i = at % (text.length + 1);
  if (how === 'insert') return text.slice(0, i) + c + text.slice(i);
  if (how === 'drop') return text.slice(0, i) + text.slice(i + c.length);
  if (how === 'snippet') return text.slice(0, i) + snippet + text.slice(i);
  return text.slice(0, i) + c + text.slice(i + c.length);
}

describe('the configuration loader', () => {
  it(
    'loads a changed configuration object or says what is wrong with it',
    async () => {
      await checkProperty(
        'config-objects',
        fc.property(fc.array(objectChange, { minLength: 1, maxLength: 4 }), (changes) => {
          const config = changes.reduce(applyChange, structuredClone(BASE) as unknown);
          load('config', () => parseConfig(config, BASE_DIR));
        }),
        RUNS,
      );
    },
    timeoutFor(RUNS, 60_000),
  );

  it(
    'loads a changed configuration file or says what is wrong with it',
    async () => {
      const file = join(dir, 'mcpgate.yaml');
      await checkProperty(
        'config-files',
        fc.property(fc.array(textChange, { minLength: 1, maxLength: 4 }), (changes) => {
          writeFileSync(file, changes.reduce(changeText, BASE_YAML));
          load(file, () => loadConfigFile(file));
        }),
        RUNS,
      );
    },
    timeoutFor(RUNS, 60_000),
  );
});
