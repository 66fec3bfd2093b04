// The error family and the JSON-RPC codes, checked against the source tree and the docs:
// every error class in src/ and dev/ is an McpgateError with a code of its own, every code
// is in docs/errors.md (and the doc lists no code that does not exist), and JSON-RPC codes
// are written as numbers in src/mcp/jsonrpc/codes.ts only.
//
// Classes are found in the TypeScript source (so a class nobody imports is still seen) and
// checked on the compiled module (so the lineage is what runs, whatever the base is called).
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../../src/config/load.js';
import * as jsonRpcCodes from '../../src/mcp/jsonrpc/codes.js';
import { RpcError } from '../../src/mcp/jsonrpc/errors.js';
import { UpstreamRpcError } from '../../src/mcp/client/rpc-client.js';
import { McpgateError } from '../../src/util/errors.js';
import { PACKAGE_ROOT } from '../../src/util/paths.js';

const SOURCE_DIRS = ['src', 'dev'];
const BASE_MODULE = 'src/util/errors.ts';
const CODES_MODULE = 'src/mcp/jsonrpc/codes.ts';
const ERRORS_DOC = join(PACKAGE_ROOT, 'docs/errors.md');
const BUILTIN_ERRORS =
  /\bextends\s+(?:Error|TypeError|RangeError|SyntaxError|EvalError|ReferenceError|URIError|AggregateError)\b/;
const CLASS_DECLARATION =
  /^[ \t]*(?:export\s+)?(?:default\s+)?(?:abstract\s+)?class\s+([A-Za-z_$][\w$]*)(?:<[^>{]*>)?\s+extends\s+([A-Za-z_$][\w$.]*)/gm;
/** A JSON-RPC code written as a number: -32768 to -32000 (the reserved range). */
const BARE_JSONRPC_CODE = /-\s*32[0-7]\d{2}\b/;
const STABLE_CODE = /^ERR_[A-Z0-9]+(?:_[A-Z0-9]+)*$/;

interface SourceFile {
  /** Relative to the package root, e.g. src/config/load.ts. */
  path: string;
  text: string;
}

interface DeclaredClass {
  name: string;
  base: string;
  file: string;
}

type ErrorClass = (abstract new (...args: never[]) => Error) & { readonly code?: unknown };

function sourceFiles(): SourceFile[] {
  const files: SourceFile[] = [];
  for (const dir of SOURCE_DIRS) {
    const root = join(PACKAGE_ROOT, dir);
    for (const entry of readdirSync(root, { recursive: true, encoding: 'utf8' })) {
      if (!entry.endsWith('.ts') || entry.endsWith('.d.ts')) continue;
      const absolute = join(root, entry);
      files.push({
        path: relative(PACKAGE_ROOT, absolute).split('\\').join('/'),
        text: readFileSync(absolute, 'utf8'),
      });
    }
  }
  return files;
}

function declaredClasses(files: SourceFile[]): DeclaredClass[] {
  const classes: DeclaredClass[] = [];
  for (const file of files) {
    for (const match of file.text.matchAll(CLASS_DECLARATION)) {
      classes.push({ name: match[1]!, base: match[2]!, file: file.path });
    }
  }
  return classes;
}

/** The compiled module of a source file (Jest runs dist/test; dist/src sits beside it). */
async function compiled(file: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(join(PACKAGE_ROOT, 'dist', file.replace(/\.ts$/, '.js'))).href;
  return (await import(url)) as Record<string, unknown>;
}

function isErrorClass(value: unknown): value is ErrorClass {
  return typeof value === 'function' && value.prototype instanceof Error;
}

const files = sourceFiles();
const declared = declaredClasses(files);

interface ErrorClasses {
  /** Every error class of src/ and dev/, loaded, by "file#name". */
  found: Map<string, ErrorClass>;
  /** Error classes that cannot be checked. */
  problems: string[];
}

async function loadErrorClasses(): Promise<ErrorClasses> {
  const found = new Map<string, ErrorClass>();
  const unexported: DeclaredClass[] = [];
  for (const declaration of declared) {
    const value = (await compiled(declaration.file))[declaration.name];
    if (value === undefined) unexported.push(declaration);
    else if (isErrorClass(value)) found.set(`${declaration.file}#${declaration.name}`, value);
  }
  // A class that is not exported cannot be loaded: it is judged by the name of its base.
  const errorNames = new Set([...found.keys()].map((key) => key.split('#')[1]!));
  const problems = unexported
    .filter(({ base }) => /Error$/.test(base) || errorNames.has(base))
    .map(
      ({ file, name }) => `${file}: error class ${name} is not exported, so it cannot be checked`,
    );
  return { found, problems };
}

let loaded: Promise<ErrorClasses> | undefined;
function errorClasses(): Promise<ErrorClasses> {
  loaded ??= loadErrorClasses();
  return loaded;
}

describe('the error family', () => {
  it('finds the error classes of src/ and dev/ (the scan works)', async () => {
    const { found } = await errorClasses();
    const names = [...found.keys()].map((key) => key.split('#')[1]);
    expect(names).toEqual(
      expect.arrayContaining(['ConfigError', 'RpcError', 'BundleError', 'DevIdpTokenError']),
    );
    expect(found.size).toBeGreaterThanOrEqual(25);
  });

  it('has every error class extend McpgateError with a stable code of its own', async () => {
    const { found, problems: unchecked } = await errorClasses();
    const problems = [...unchecked];
    for (const [key, cls] of found) {
      if (key === `${BASE_MODULE}#McpgateError`) continue;
      if (!(cls.prototype instanceof McpgateError)) {
        problems.push(`${key} does not extend McpgateError (src/util/errors.ts)`);
        continue;
      }
      if (!Object.hasOwn(cls, 'code')) {
        problems.push(`${key} declares no static code of its own (it inherits its base's)`);
      } else if (typeof cls.code !== 'string' || !STABLE_CODE.test(cls.code)) {
        problems.push(`${key} has code ${String(cls.code)}, not of the form ERR_WORDS`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('gives no two classes the same code', async () => {
    const { found } = await errorClasses();
    const byCode = new Map<string, string[]>();
    for (const [key, cls] of found) {
      if (!Object.hasOwn(cls, 'code')) continue;
      const code = String(cls.code);
      byCode.set(code, [...(byCode.get(code) ?? []), key]);
    }
    const shared = [...byCode].filter(([, owners]) => owners.length > 1);
    expect(shared).toEqual([]);
  });

  it('extends the built-in errors in src/util/errors.ts only', () => {
    const offenders = files
      .filter((file) => file.path !== BASE_MODULE && BUILTIN_ERRORS.test(file.text))
      .map((file) => file.path);
    expect(offenders).toEqual([]);
  });

  it('lists every code in docs/errors.md, and no code that does not exist', async () => {
    const { found } = await errorClasses();
    const codes = new Set(
      [...found.values()].filter((cls) => Object.hasOwn(cls, 'code')).map((c) => String(c.code)),
    );
    const documented = new Set(
      [...readFileSync(ERRORS_DOC, 'utf8').matchAll(/`(ERR_[A-Z0-9_]+)`/g)].map((m) => m[1]!),
    );
    expect([...codes].filter((code) => !documented.has(code))).toEqual([]);
    expect([...documented].filter((code) => !codes.has(code))).toEqual([]);
  });

  it('puts the class name, the code and the cause on every instance', () => {
    const cause = new Error('ENOENT');
    const err = new ConfigError('cannot read config file x.yaml', { cause });
    expect(err).toBeInstanceOf(McpgateError);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('ConfigError');
    expect(err.code).toBe('ERR_CONFIG_INVALID');
    expect(err.code).toBe(ConfigError.code);
    expect(err.cause).toBe(cause);
    expect(err.message).toBe('cannot read config file x.yaml');
    expect(String(err.stack)).toMatch(/^ConfigError: cannot read config file x\.yaml\n/);
  });

  it('keeps the JSON-RPC code of a JSON-RPC error apart from its stable code', () => {
    const denied = new RpcError(jsonRpcCodes.POLICY_DENIED, 'Denied by policy: no', { x: 1 });
    expect(denied).toMatchObject({ rpcCode: -32010, code: 'ERR_JSONRPC', data: { x: 1 } });
    expect(new UpstreamRpcError(-32602, 'no', undefined)).toMatchObject({
      rpcCode: -32602,
      code: 'ERR_UPSTREAM_RPC',
    });
  });
});

describe('JSON-RPC error codes', () => {
  const doc = readFileSync(ERRORS_DOC, 'utf8');

  it('are all in the reserved range and all in docs/errors.md, named, with their value', () => {
    const entries = Object.entries(jsonRpcCodes);
    expect(entries.length).toBeGreaterThanOrEqual(10);
    const problems: string[] = [];
    for (const [name, value] of entries) {
      if (typeof value !== 'number' || value < -32768 || value > -32000) {
        problems.push(`${name} = ${String(value)} is not a JSON-RPC error code`);
        continue;
      }
      const rows = doc.split('\n').filter((line) => line.includes(`\`${name}\``));
      if (!rows.some((line) => line.includes(String(value)))) {
        problems.push(`${name} (${value}) has no line in docs/errors.md naming it with its value`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('are written as numbers in src/mcp/jsonrpc/codes.ts only', () => {
    const bare = files
      .filter((file) => file.path !== CODES_MODULE)
      .flatMap((file) =>
        file.text
          .split('\n')
          .map((line, i) => ({ line, at: `${file.path}:${i + 1}` }))
          .filter(({ line }) => BARE_JSONRPC_CODE.test(line)),
      )
      .map(({ at, line }) => `${at}: ${line.trim()}`);
    expect(bare).toEqual([]);
  });
});
