// Locations inside the installed package (dist/src/util/ -> package root).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The opa CLI: $MCPGATE_OPA, else the project-local .tools/bin/opa, else opa on PATH. */
export function opaBinary(): string {
  if (process.env.MCPGATE_OPA) return process.env.MCPGATE_OPA;
  const local = join(PACKAGE_ROOT, '.tools/bin/opa');
  return existsSync(local) ? local : 'opa';
}
