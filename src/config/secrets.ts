// Secrets are never written in the config file: a value names where to read it.
//   env:NAME     the environment variable NAME
//   file:PATH    the contents of PATH (trailing newline trimmed; relative to the config file)
// Non-secret values that must be literal are written { literal: "..." } so a reviewer can
// tell at a glance that nothing sensitive is inline.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { McpgateError } from '../util/errors.js';

export type SecretRef = { kind: 'env'; name: string } | { kind: 'file'; path: string };
export type ValueSource = SecretRef | { kind: 'literal'; value: string };

export class SecretError extends McpgateError {
  static override readonly code = 'ERR_SECRET_UNRESOLVED';
}

const REF_PATTERN = /^(env|file):(.+)$/;

export function isSecretRef(value: string): boolean {
  return REF_PATTERN.test(value);
}

/** Parses `env:NAME` / `file:PATH`; anything else is refused with a hint. */
export function parseSecretRef(value: string, where: string, baseDir: string): SecretRef {
  const match = REF_PATTERN.exec(value);
  if (!match) {
    throw new SecretError(
      `${where}: a secret must be a reference, "env:NAME" or "file:PATH" ` +
        `(for a value that is not secret write {literal: "..."})`,
    );
  }
  const [, kind, rest] = match as unknown as [string, 'env' | 'file', string];
  return kind === 'env' ? { kind, name: rest } : { kind, path: resolve(baseDir, rest) };
}

/** Reads the value now. Called when a connection is made, so rotated secrets are picked up. */
export function readValue(source: ValueSource, where: string): string {
  switch (source.kind) {
    case 'literal':
      return source.value;
    case 'env': {
      const value = process.env[source.name];
      if (value === undefined || value === '') {
        throw new SecretError(`${where}: environment variable ${source.name} is not set`);
      }
      return value;
    }
    case 'file':
      try {
        return readFileSync(source.path, 'utf8').replace(/\r?\n$/, '');
      } catch (err) {
        throw new SecretError(`${where}: cannot read secret file ${source.path}: ${String(err)}`);
      }
  }
}

export function describeSource(source: ValueSource): string {
  switch (source.kind) {
    case 'literal':
      return 'literal';
    case 'env':
      return `env:${source.name}`;
    case 'file':
      return `file:${source.path}`;
  }
}
