// The peer gateway: an open-source MCP gateway proxying the same upstream, no policy.
// Candidates are Go programs installed with `go install`. This probe tries each and
// records exactly what happened; a peer that does not install is reported "not run" with
// that output, never estimated.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PEER_CANDIDATES = [
  { name: 'MCPJungle', module: 'github.com/mcpjungle/mcpjungle@latest' },
  { name: 'Unla', module: 'github.com/amoylab/unla/cmd/mcp-gateway@latest' },
];

function clip(text, max = 600) {
  const t = text.trim();
  return t.length > max ? `${t.slice(0, max)} …` : t;
}

export function probePeers({ timeoutMs = 180_000 } = {}) {
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.status !== 0) {
    return {
      status: 'not run',
      reason: 'no Go toolchain on this machine (`go version` failed), so no peer could be built',
      attempts: [],
    };
  }
  const attempts = [];
  for (const candidate of PEER_CANDIDATES) {
    const bin = mkdtempSync(join(tmpdir(), 'mcpgate-bench-peer-'));
    const started = Date.now();
    const result = spawnSync('go', ['install', candidate.module], {
      encoding: 'utf8',
      timeout: timeoutMs,
      env: { ...process.env, GOBIN: bin, GOFLAGS: '-buildvcs=false' },
    });
    const built = result.status === 0 ? readdirSync(bin) : [];
    attempts.push({
      name: candidate.name,
      command: `go install ${candidate.module}`,
      exitCode: result.status,
      timedOut: result.error?.code === 'ETIMEDOUT',
      seconds: Math.round((Date.now() - started) / 100) / 10,
      output: clip(`${result.stderr ?? ''}${result.stdout ?? ''}`),
      binaries: built,
    });
    rmSync(bin, { recursive: true, force: true });
  }
  const installed = attempts.filter((a) => a.exitCode === 0 && a.binaries.length > 0);
  const goVersion = go.stdout.trim();
  return {
    status: 'not run',
    goVersion,
    reason:
      installed.length === 0
        ? `neither candidate installs here: ${attempts
            .map(
              (a) =>
                `${a.name}: \`${a.command}\` exited ${a.timedOut ? '(timed out)' : a.exitCode}${a.output ? ` with "${a.output.split('\n')[0]}"` : ''}`,
            )
            .join('; ')}`
        : `${installed.map((a) => a.name).join(', ')} installed, but this bench has no adapter to configure and drive it yet`,
    attempts,
  };
}
