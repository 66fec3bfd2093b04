// Finds a program the tests run for real (redis-server, prometheus, promtool): $<variable>,
// else the first <name> on PATH (where scripts/setup.sh looks too). Missing, the error
// says what needs it and how to install it.
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export function findBinary(name: string, variable: string, neededFor: string): string {
  const binary =
    process.env[variable] ??
    (process.env.PATH ?? '')
      .split(delimiter)
      .filter(Boolean)
      .map((dir) => join(dir, name))
      .find((file) => existsSync(file));
  if (binary === undefined || !existsSync(binary)) {
    throw new Error(
      `${name} not found (${binary ?? `not on PATH, and ${variable} is unset`}): ${neededFor} ` +
        `(or set ${variable} to its path)`,
    );
  }
  return binary;
}
