// Wraps the OPA CLI for `mcpgate policy build|check` and the Go side of `policy test`.
// The capabilities file limits the policy to built-ins the in-process wasm evaluator can
// run, so an unsupported built-in fails the build instead of a request.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  DECISION_ENTRYPOINT,
  PolicyEngine,
  PolicyLoadError,
  PREPARE_ENTRYPOINT,
  VISIBLE_ENTRYPOINT,
} from '../policy/engine.js';
import { LOG_ENTRYPOINTS } from '../audit/mask.js';
import { MANIFEST_METADATA_KEY, readBundleFile } from '../policy/bundle/read.js';
import { readTar, replaceTarFile } from '../policy/bundle/tar.js';
import { NON_POLICY_ENTRIES, policyFiles, sourceRevision } from '../policy/sources/rego-dir.js';
import { unreadInput, type ModuleAst } from './input-analysis.js';
import { dataFileProblems, placeProfileProblems } from './data-files.js';
import { opaBinary } from '../util/paths.js';
import { McpgateError } from '../util/errors.js';

export class ToolchainError extends McpgateError {
  static override readonly code = 'ERR_POLICY_TOOLCHAIN';
}

export interface RegoLayout {
  regoDir: string;
  capabilities: string;
  schemaDir: string;
  casesFile: string;
}

export function regoLayout(regoDir: string): RegoLayout {
  return {
    regoDir,
    capabilities: join(regoDir, 'capabilities.json'),
    schemaDir: join(regoDir, 'schema'),
    casesFile: join(regoDir, 'tests', 'cases.json'),
  };
}

export interface OpaResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function runOpa(args: string[], options: { cwd?: string } = {}): OpaResult {
  const bin = opaBinary();
  const result = spawnSync(bin, args, {
    encoding: 'utf8',
    cwd: options.cwd,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.error) {
    throw new ToolchainError(
      `cannot run the OPA CLI (${bin}): ${result.error.message}; run scripts/install-opa.sh or set MCPGATE_OPA`,
    );
  }
  return { status: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}

/**
 * The decision-log entrypoints (system/log/mask, system/log/drop) worth trying: both when
 * some package could define them (data.system or data.system.log*), none otherwise, per
 * `opa inspect`. When inspect fails, both: `opa build` then has the final word.
 */
function logEntrypointCandidates(regoDir: string): string[] {
  const result = runOpa(['inspect', '--format', 'json', '.'], { cwd: regoDir });
  if (result.status !== 0) return [...LOG_ENTRYPOINTS];
  let namespaces: string[];
  try {
    const parsed = JSON.parse(result.stdout) as { namespaces?: Record<string, unknown> };
    namespaces = Object.keys(parsed.namespaces ?? {});
  } catch {
    return [...LOG_ENTRYPOINTS];
  }
  return namespaces.some((ns) => /^data\.system($|\.log($|\.))/.test(ns))
    ? [...LOG_ENTRYPOINTS]
    : [];
}

/** OPA's refusal of an entrypoint no rule defines (`opa build -e`). */
function undefinedEntrypoint(output: string, entrypoint: string): boolean {
  return output.includes(`entrypoint "${entrypoint}" does not refer to a rule`);
}

/** The memory a build check loads the bundle with: policy.memory's defaults. */
const CHECK_MEMORY = { initialPages: 5, maxPages: 1024 };

/**
 * `opa build -t wasm` of rego/ into outFile. The bundle has the decision and visible
 * entrypoints, plus mcp/authz/prepare when the policy defines it and system/log/mask and
 * system/log/drop when it defines those (decision-log masking, see audit/mask.ts).
 * Whether a rule exists is OPA's call: the build is tried with them, and one OPA reports as
 * undefined is left out. The manifest then gets `metadata.mcpgate.unread_input` (see
 * recordUnreadInput), and the bundle is loaded as the gateway loads it, so a policy the
 * gateway would refuse (a malformed profile, which mcp/authz/prepare reports) fails the
 * build. Before OPA runs, the data files are parsed here, so a syntax error names its line
 * and column (data-files.ts). The bundle is written next to outFile and renamed over it
 * only when complete.
 */
export function buildWasmBundle(layout: RegoLayout, outFile: string, revision?: string): string {
  const syntax = dataFileProblems(layout.regoDir, false);
  if (syntax.length > 0) {
    throw new ToolchainError(`data files OPA cannot load:\n  ${syntax.join('\n  ')}`);
  }
  const rev = revision ?? sourceRevision(layout.regoDir);
  mkdirSync(dirname(outFile), { recursive: true });
  const partial = `${outFile}.partial-${process.pid}`;
  try {
    opaBuild(layout, partial, rev);
    recordUnreadInput(partial, regoSources(layout.regoDir));
    try {
      PolicyEngine.load(readBundleFile(partial), CHECK_MEMORY);
    } catch (err) {
      if (!(err instanceof PolicyLoadError)) throw err;
      throw new ToolchainError(
        `the gateway would refuse the built policy: ${placeProfileProblems(layout.regoDir, err.message)}`,
      );
    }
    renameSync(partial, outFile);
  } finally {
    rmSync(partial, { force: true });
  }
  return rev;
}

/** Entrypoints built when the policy defines them, and left out when OPA says it does not. */
const OPTIONAL_ENTRYPOINTS: readonly string[] = [PREPARE_ENTRYPOINT, ...LOG_ENTRYPOINTS];

function opaBuild(layout: RegoLayout, outFile: string, rev: string): void {
  let entrypoints = [
    DECISION_ENTRYPOINT,
    VISIBLE_ENTRYPOINT,
    PREPARE_ENTRYPOINT,
    ...logEntrypointCandidates(layout.regoDir),
  ];
  for (;;) {
    const args = [
      'build',
      '-t',
      'wasm',
      ...entrypoints.flatMap((e) => ['-e', e]),
      '--capabilities',
      layout.capabilities,
      '--revision',
      rev,
      '-o',
      outFile,
      ...NON_POLICY_ENTRIES.flatMap((entry) => ['--ignore', entry]),
      '.',
    ];
    // Run inside rego/ so file names in the bundle are relative, not this machine's paths.
    const result = runOpa(args, { cwd: layout.regoDir });
    if (result.status === 0) return;
    const output = result.stderr || result.stdout;
    const missing = OPTIONAL_ENTRYPOINTS.find(
      (e) => entrypoints.includes(e) && undefinedEntrypoint(output, e),
    );
    if (missing === undefined) throw new ToolchainError(`opa build failed:\n${output}`);
    entrypoints = entrypoints.filter((e) => e !== missing);
  }
}

/**
 * The .rego files `opa build` compiles from rego/, by path. Not the copies in the built
 * bundle: for the wasm target OPA leaves the rules it compiled to wasm out of those.
 */
export function regoSources(regoDir: string): Map<string, Buffer> {
  return new Map(
    policyFiles(regoDir)
      .filter((file) => file.endsWith('.rego'))
      .map((file) => [relative(regoDir, file), readFileSync(file)]),
  );
}

/** `opa parse --format json` of every .rego file of `files` (path -> source). */
export function parseModules(files: ReadonlyMap<string, Buffer>): ModuleAst[] {
  const dir = mkdtempSync(join(tmpdir(), 'mcpgate-parse-'));
  try {
    return [...files]
      .filter(([name]) => name.endsWith('.rego'))
      .map(([name, source], i) => {
        const file = join(dir, `${i}.rego`);
        writeFileSync(file, source);
        const result = runOpa(['parse', '--format', 'json', '--json-include', '-comments', file]);
        if (result.status !== 0) {
          throw new ToolchainError(
            `opa parse of ${name} failed:\n${result.stderr || result.stdout}`,
          );
        }
        return JSON.parse(result.stdout) as ModuleAst;
      });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Proves from the Rego modules a bundle was built from (`sources`, see regoSources) which
 * input parts no rule reachable from its entrypoints can read (input-analysis.ts), and
 * records them in the bundle's manifest as `metadata.mcpgate.unread_input` (for the shipped
 * policy: ["session.history"]). The gateway leaves those parts out of every input; a bundle
 * without the record gets the whole input.
 */
export function recordUnreadInput(
  bundleFile: string,
  sources: ReadonlyMap<string, Buffer>,
): string[] {
  const tar = gunzipSync(readFileSync(bundleFile));
  const files = readTar(tar);
  const manifestBytes = files.get('/.manifest');
  if (!manifestBytes) throw new ToolchainError(`${bundleFile} has no /.manifest`);
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as {
    wasm?: Array<{ entrypoint?: unknown }>;
    metadata?: Record<string, unknown>;
  };
  const entrypoints = (manifest.wasm ?? [])
    .map((w) => w.entrypoint)
    .filter((e): e is string => typeof e === 'string');
  const unread = unreadInput(parseModules(sources), entrypoints);
  manifest.metadata = { ...manifest.metadata, [MANIFEST_METADATA_KEY]: { unread_input: unread } };
  const rewritten = replaceTarFile(tar, '/.manifest', Buffer.from(JSON.stringify(manifest)));
  writeFileSync(bundleFile, gzipSync(rewritten));
  return unread;
}
