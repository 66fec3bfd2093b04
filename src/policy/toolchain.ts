// Wraps the OPA CLI for `mcpgate policy build|check` and the Go side of `policy test`.
// The capabilities file limits the policy to built-ins the in-process wasm evaluator can
// run, so an unsupported built-in fails the build instead of a request.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { DECISION_ENTRYPOINT, VISIBLE_ENTRYPOINT } from './engine.js';
import { LOG_ENTRYPOINTS } from './decision-log-mask.js';
import { opaBinary } from '../util/paths.js';

export class ToolchainError extends Error {}

/** Folders and files of rego/ that are tooling, not policy: never built into the bundle. */
export const NON_POLICY_ENTRIES = ['tests', 'schema', 'capabilities.json'];

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

function policyFiles(dir: string): string[] {
  const files: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    // Skipped at any depth, as `opa build --ignore` does.
    if (NON_POLICY_ENTRIES.includes(name)) continue;
    if (statSync(path).isDirectory()) files.push(...policyFiles(path));
    else if (/\.(rego|json|yaml|yml)$/.test(name)) files.push(path);
  }
  return files;
}

/** A content digest of the policy sources: the same rego/ always gives the same revision. */
export function sourceRevision(regoDir: string): string {
  const hash = createHash('sha256');
  for (const file of policyFiles(regoDir)) {
    hash.update(relative(regoDir, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return `rego-${hash.digest('hex').slice(0, 16)}`;
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

/**
 * `opa build -t wasm` of rego/ into outFile. The bundle has the decision and visible
 * entrypoints, plus system/log/mask and system/log/drop when the policy defines those
 * rules (decision-log masking, see decision-log-mask.ts). Whether a rule exists is OPA's
 * call: the build is tried with them, and one OPA reports as undefined is left out.
 */
export function buildWasmBundle(layout: RegoLayout, outFile: string, revision?: string): string {
  const rev = revision ?? sourceRevision(layout.regoDir);
  mkdirSync(dirname(outFile), { recursive: true });
  let entrypoints = [
    DECISION_ENTRYPOINT,
    VISIBLE_ENTRYPOINT,
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
    if (result.status === 0) return rev;
    const output = result.stderr || result.stdout;
    const missing = LOG_ENTRYPOINTS.find(
      (e) => entrypoints.includes(e) && undefinedEntrypoint(output, e),
    );
    if (missing === undefined) throw new ToolchainError(`opa build failed:\n${output}`);
    entrypoints = entrypoints.filter((e) => e !== missing);
  }
}
