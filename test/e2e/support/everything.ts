// server-everything as a network server of its own (its `sse` or `streamableHttp` mode) on a
// free loopback port, for upstreams that are not stdio children of the gateway.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './gateway.js';
import { freePort } from './ports.js';

export interface EverythingServer {
  /** The event stream's URL (`sse`) or the MCP endpoint (`streamableHttp`). */
  url: string;
  child: ChildProcess;
  stop(): void;
}

/** What each mode prints on stderr once it listens, and where its endpoint is. */
const MODES = {
  sse: { ready: 'is running on port', path: '/sse' },
  streamableHttp: { ready: 'listening on port', path: '/mcp' },
} as const;

export async function startEverything(mode: keyof typeof MODES): Promise<EverythingServer> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js'), mode],
    { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  await new Promise<void>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`server-everything ${mode}: ${text}`)), 20_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes(MODES[mode].ready)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`server-everything exited ${code}: ${text}`)));
  });
  return {
    url: `http://127.0.0.1:${port}${MODES[mode].path}`,
    child,
    stop: () => {
      child.kill();
    },
  };
}
