// The package version, read once at start-up for decision-log labels and the MCP handshake.
import { readFileSync } from 'node:fs';

const packageJsonUrl = new URL('../../../package.json', import.meta.url);

export const GATEWAY_VERSION: string = (
  JSON.parse(readFileSync(packageJsonUrl, 'utf8')) as { version: string }
).version;
