// The operator console in a real browser: Debian's chromium driven by playwright-core (no
// browser download), against two gateway replicas on one real Redis behind a small proxy
// (the public URL), the development IdP's real sign-in page (authorization code + PKCE),
// the real filesystem MCP server and the shipped incident-response policy. A call held on
// replica A is approved in the console served by replica B and completes; a denial, the
// wrong approver, an expired request, a form without its CSRF token and HTML in the
// arguments are each shown as they must be. The tools page shows the live catalog's trust: a
// hostile server's rug pull (changed since its pin), its poisoned tool awaiting pinning and a
// description holding HTML and script, shown as text. Screenshots of every page go to
// $MCPGATE_SCREENSHOTS_DIR (docs/ for docs/console.md: `npm run docs:console`), else to a
// scratch directory.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startDevIdp, type DevIdp } from '../../dev/idp/index.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { connectClient, textOf } from './support/client.js';
import {
  FIXTURE_SERVERS,
  ROOT,
  scratchDir,
  startGatewayProcess,
  type GatewayProcess,
} from './support/gateway.js';
import { pinnedBundle } from './support/pinned-bundle.js';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = process.env.MCPGATE_SCREENSHOTS_DIR
  ? resolve(ROOT, process.env.MCPGATE_SCREENSHOTS_DIR)
  : mkdtempSync(join(tmpdir(), 'mcpgate-console-'));
const TIMEOUT_S = 8;

let redis: RedisServer;
let idp: DevIdp;
let proxy: Server;
let a: GatewayProcess;
let b: GatewayProcess;
let browser: Browser;
let publicUrl = '';
let dir = '';

/** The public URL: every request goes to replica B (as a load balancer might send it). */
function startProxy(): Promise<Server> {
  const server = createServer((req, res) => {
    const target = new URL(b.url);
    const upstream = request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done(server)));
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `chromium not found at ${CHROMIUM}: the console test needs it (scripts/setup.sh --browser installs it; or set CHROMIUM)`,
    );
  }
  mkdirSync(SHOTS, { recursive: true });
  redis = await startRedis();
  proxy = await startProxy();
  publicUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  idp = await startDevIdp({
    issuers: [{ profile: 'oidc' }],
    audience: `${publicUrl}/mcp`,
    console: {
      redirectUris: [`${publicUrl}/console/callback`],
      users: {
        carol: { roles: ['mcpgate.approver', 'mcpgate.admin'] },
        olive: { groups: ['oncall'] },
        mallory: { groups: ['oncall'] },
      },
    },
  });
  const oidc = idp.issuer('oidc');
  dir = scratchDir();
  mkdirSync(join(dir, 'demo/incidents'));
  const filesystem = {
    transport: 'stdio',
    command: join(ROOT, 'node_modules/.bin/mcp-server-filesystem'),
    args: ['.'],
    cwd: join(dir, 'demo'),
  };
  const hostile = (env: Record<string, string>) => ({
    transport: 'stdio',
    command: process.execPath,
    args: [join(FIXTURE_SERVERS, 'rug-pull-server.js')],
    env: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, { literal: v }])),
  });
  // The hostile server serves its weather tool rugged from the start (after 0 calls), and
  // two tools nobody reviewed: a poisoned one and one whose description holds HTML.
  const upstreams = {
    filesystem,
    hostile: hostile({ HOSTILE_TOOLS: 'weather,poisoned,markup', HOSTILE_RUG_AFTER: '0' }),
  };
  const options = {
    issuer: { issuer: oidc.issuer, jwksUri: oidc.jwksUri },
    dir,
    // Pinned as reviewed: the filesystem tools (incident-response uses only reviewed
    // definitions) and the hostile server's weather tool while it was still harmless.
    bundle: await pinnedBundle(dir, { filesystem, hostile: hostile({ HOSTILE_TOOLS: 'weather' }) }),
    gateway: { public_url: publicUrl },
    sessions: {
      default_purpose: 'incident-response',
      store: { type: 'redis', url: { literal: redis.url }, command_timeout_ms: 500 },
    },
    upstreams,
    extra: {
      approvals: { max_timeout_s: TIMEOUT_S, progress_interval_s: 0.5 },
      console: {
        enabled: true,
        issuer: oidc.issuer,
        client_id: 'mcpgate-console',
        allow_insecure_http: true,
        cookie_key: { literal: 'a console cookie key shared by both replicas' },
      },
    },
  };
  a = await startGatewayProcess(options);
  b = await startGatewayProcess({ ...options, dir: undefined });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await new Promise((done) => proxy?.close(done));
  await idp?.stop();
  await redis?.stop();
});

/** A new browser, signed in at the dev IdP as `login`, on the console's approvals page. */
async function signIn(login: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${publicUrl}/console`);
  // The dev IdP's sign-in page, then its consent page.
  await page.fill('input[name="login"]', login);
  await page.fill('input[name="password"]', 'any');
  await page.click('button[type="submit"]');
  await page.click('button[type="submit"]');
  await page.waitForURL(`${publicUrl}/console/**`);
  return page;
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `console-${name}.png`), fullPage: true });
}

async function oncall(login: string): Promise<Client> {
  return connectClient(
    a.mcpUrl,
    await idp.mintUserToken('oidc', { user: login, groups: ['oncall'] }),
  );
}

function write(client: Client, path: string, content: string): Promise<CallToolResult> {
  return client.callTool(
    { name: 'filesystem__write_file', arguments: { path, content } },
    undefined,
    { timeout: 60_000 },
  ) as Promise<CallToolResult>;
}

/** Opens the pending approval of this file from the approvals page. */
async function openApproval(page: Page, path: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    await page.goto(`${publicUrl}/console/approvals`);
    const link = page.locator('table').first().locator('a', { hasText: 'filesystem.write_file' });
    for (const candidate of await link.all()) {
      const href = (await candidate.getAttribute('href')) ?? '';
      await page.goto(`${publicUrl}${href}`);
      if ((await page.locator('#arguments').textContent())?.includes(path)) return href;
      await page.goto(`${publicUrl}/console/approvals`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no pending approval of ${path}`);
}

describe('the console', () => {
  it('signs in at the IdP; an approval there releases the call held on the other replica', async () => {
    const client = await oncall('olive');
    const call = write(client, 'incidents/browser.md', '# from the browser test');
    const page = await signIn('carol');
    await page.waitForSelector('text=filesystem.write_file');
    await shot(page, 'approvals');
    await openApproval(page, 'incidents/browser.md');
    await shot(page, 'approval');
    await page.fill('#comment', 'checked with the incident commander');
    await page.click('button[value="approve"]');
    await expect(page.locator('[role="status"]').textContent()).resolves.toBe(
      'You approved this call.',
    );
    const result = await call;
    expect(result.isError).toBeFalsy();
    expect(readFileSync(join(dir, 'demo/incidents/browser.md'), 'utf8')).toBe(
      '# from the browser test',
    );
    await page.context().close();
    await client.close();
  });

  it('shows HTML in the arguments as text, and a denial reaches the caller with its comment', async () => {
    const client = await oncall('olive');
    const hostile = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">';
    const call = write(client, 'incidents/hostile.md', hostile);
    const page = await signIn('carol');
    await openApproval(page, 'incidents/hostile.md');
    const shown = JSON.parse((await page.locator('#arguments').textContent()) ?? '{}') as {
      content?: string;
    };
    expect(shown.content).toBe(hostile);
    expect(await page.locator('main script, main img').count()).toBe(0);
    expect(await page.evaluate(() => (window as { pwned?: number }).pwned)).toBeUndefined();
    await page.fill('#comment', 'no scripts in incident notes');
    await page.click('button[value="deny"]');
    await expect(page.locator('[role="status"]').textContent()).resolves.toBe(
      'You denied this call.',
    );
    const result = await call;
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain(
      'carol denied approval of this call: no scripts in incident notes',
    );
    expect(existsSync(join(dir, 'demo/incidents/hostile.md'))).toBe(false);
    await page.context().close();
    await client.close();
  });

  it('refuses the wrong approver, a form without its CSRF token, and an expired request', async () => {
    const client = await oncall('olive');
    const call = write(client, 'incidents/refused.md', '# refused');
    const carol = await signIn('carol');
    const href = await openApproval(carol, 'incidents/refused.md');

    const mallory = await signIn('mallory');
    const forbidden = await mallory.goto(`${publicUrl}${href}`);
    expect(forbidden?.status()).toBe(403);
    expect(await mallory.locator('main').textContent()).toContain(
      'approvals needs one of the roles (mcpgate.admin, mcpgate.approver)',
    );
    await shot(mallory, 'forbidden');

    // The session cookie alone is not enough: the CSRF token must come with the form.
    const forged = await carol.request.post(`${publicUrl}${href}`, {
      form: { verdict: 'approve' },
      headers: { origin: publicUrl },
    });
    expect(forged.status()).toBe(403);
    expect(await forged.text()).toContain('no valid CSRF token');

    expect((await call).isError).toBe(true); // it timed out meanwhile
    await carol.goto(`${publicUrl}${href}`);
    expect(await carol.locator('.state').first().textContent()).toBe('expired');
    expect(await carol.locator('form.decide').count()).toBe(0);
    await Promise.all([mallory.context().close(), carol.context().close()]);
    await client.close();
  });

  it('lists, inspects and kills sessions, and filters recent decisions', async () => {
    const client = await oncall('olive');
    await client.callTool({ name: 'filesystem__list_directory', arguments: { path: 'logs' } });
    const page = await signIn('carol');
    await page.click('nav >> text=Sessions');
    await page.waitForSelector('table');
    await shot(page, 'sessions');
    const rows = page.locator('tbody tr', { hasText: 'olive' });
    await rows.last().locator('a').click();
    await page.waitForSelector('text=Recent calls');
    await shot(page, 'session');
    await page.click('button:has-text("Kill this session")');
    await expect(page.locator('[role="status"]').first().textContent()).resolves.toBe(
      'The session was killed.',
    );
    await expect(client.listTools()).rejects.toThrow();

    await page.goto(`${publicUrl}/console/decisions`);
    await page.fill('#user', 'carol');
    await page.selectOption('#outcome', 'allow');
    await page.click('button:has-text("Filter")');
    await page.waitForSelector('tbody tr');
    const actions = await page.locator('tbody tr td:nth-child(3)').allTextContents();
    expect(actions.length).toBeGreaterThan(0);
    expect(actions.every((x) => x.startsWith('admin/'))).toBe(true);
    await shot(page, 'decisions');
    await page.context().close();
  });

  it('shows the tools awaiting pinning or changed, descriptions as text, and nothing to change', async () => {
    const page = await signIn('carol');
    await page.click('nav >> text=Tools');
    await page.waitForSelector('#tools');
    expect(await page.locator('nav a[aria-current="page"]').textContent()).toBe('Tools');
    const row = (id: string) =>
      page.locator('#tools tbody tr', { has: page.locator('th code', { hasText: id }) });
    const cells = async (id: string): Promise<string[]> =>
      (await row(id).locator('td').allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim());
    // Kind, pin, findings, what needs attention, the command.
    const weather = await cells('hostile.weather');
    expect(weather[1]).toBe('changed since its pin: description');
    expect(weather[2]).toContain('high instruction.tag in description');
    expect(weather[3]).toContain('changed: description');
    expect(weather[4]).toBe('mcpgate tools pin hostile.weather --acknowledge');
    const add = await cells('hostile.add');
    expect(add[1]).toBe('pending');
    expect(await row('hostile.add').locator('ul.attention li').allTextContents()).toEqual([
      'awaiting pinning',
      'high-severity findings not acknowledged',
    ]);
    expect(add[4]).toBe('mcpgate tools pin hostile.add --acknowledge');
    const pinned = await cells('filesystem.read_text_file');
    expect([pinned[1], pinned[3], pinned[4]]).toEqual(['pinned', 'nothing', 'nothing to do']);

    // A description holding markup is shown as the text it is; nothing of it runs.
    const markup = row('hostile.render');
    await markup.locator('summary').click();
    expect(await markup.locator('pre.description').textContent()).toBe(
      'Renders a note. <script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"> <b>bold</b>',
    );
    expect(await page.locator('main script, main img, main b').count()).toBe(0);
    expect(await page.evaluate(() => (window as { pwned?: number }).pwned)).toBeUndefined();

    // Read-only: no form here changes anything; pinning is a change to the signed policy.
    expect(await page.locator('main form[method="post"]').count()).toBe(0);
    expect(await page.locator('main').textContent()).toContain('This page only shows.');

    // Only what needs attention, chosen by the labelled field.
    await page.getByLabel('Show').selectOption('attention');
    await page.click('button:has-text("Filter")');
    await page.waitForURL(/show=attention/);
    const ids = await page.locator('#tools tbody th code').allTextContents();
    expect(ids.sort()).toEqual(['hostile.add', 'hostile.render', 'hostile.weather']);
    await row('hostile.render').locator('summary').click();
    await shot(page, 'tools');

    const bad = await page.goto(`${publicUrl}/console/tools?show=some`);
    expect(bad?.status()).toBe(400);
    expect(await page.locator('[role="alert"]').textContent()).toBe(
      'Bad filter: show must be all or attention.',
    );
    const mallory = await signIn('mallory');
    const refused = await mallory.goto(`${publicUrl}/console/tools`);
    expect(refused?.status()).toBe(403);
    expect(await mallory.locator('main').textContent()).toContain(
      'tool trust needs one of the roles (mcpgate.admin, mcpgate.approver)',
    );
    expect(await mallory.locator('#tools').count()).toBe(0);
    await Promise.all([page.context().close(), mallory.context().close()]);
  });
});
