// The package version, read once at start-up for decision-log labels and the MCP handshake,
// and the Node.js versions the package supports (its `engines.node`).
import { readFileSync } from 'node:fs';

const packageJsonUrl = new URL('../../../package.json', import.meta.url);

const manifest = JSON.parse(readFileSync(packageJsonUrl, 'utf8')) as {
  version: string;
  engines: { node: string };
};

export const GATEWAY_VERSION: string = manifest.version;

/** package.json's `engines.node`, e.g. `>=24.11`. */
export const NODE_ENGINES: string = manifest.engines.node;
