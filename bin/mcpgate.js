#!/usr/bin/env node
// Entry point of the mcpgate CLI (compiled sources live in dist/; run `npm run build`).
// `mcpgate start` first replaces this process with one that has the gateway's V8 flags
// (src/cli/runtime-flags.ts); every other command runs as it is.
import { gatewayExecArgs } from '../dist/src/cli/runtime-flags.js';

let exec;
try {
  exec = gatewayExecArgs(
    process.execPath,
    process.argv,
    process.execArgv,
    process.env,
    process.allowedNodeEnvironmentFlags,
  );
} catch (err) {
  console.error(`mcpgate: ${err.message}`);
  process.exit(1);
}
if (exec !== undefined && typeof process.execve === 'function') {
  process.execve(process.execPath, exec, process.env);
}
await import('../dist/src/cli/main.js');
