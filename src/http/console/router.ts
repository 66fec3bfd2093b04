// The operator console at /console, served by the gateway: pending approvals (approve or
// deny with a comment), sessions (list, inspect, kill), recent decisions with filters, and
// the live catalog's tool trust (read-only). People sign in at the IdP (auth.ts); every
// page and every action is then decided by the policy as that person (admin/approvals/*,
// admin/sessions/*, admin/decisions/list, admin/tools/list) and
// logged like any admin API call. Forms carry a CSRF token and must come from the console's
// own origin; responses forbid scripts, framing and caching.
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { DecisionLog } from '../../audit/decision-log.js';
import type { Identity } from '../../identity/identity.js';
import { approvalFacts, subjectOf } from '../../pipeline/approval-desk.js';
import type { Pipeline } from '../../pipeline/chains.js';
import { buildOperatorInput, policySummary, type ApprovalFacts } from '../../policy/input.js';
import { APPROVAL_ID, stateAt, type ApprovalRecord } from '../../sessions/approvals.js';
import { StoreUnavailableError, type SessionStore } from '../../sessions/store.js';
import type { Logger } from '../../util/logger.js';
import type { SessionManager } from '../live-sessions.js';
import type { CatalogReviewItem } from '../../policy/trust-review.js';
import {
  countItems,
  ITEM_KINDS,
  parseToolTrustFilter,
  selectItems,
  type ToolTrustCounts,
  type ToolTrustFilter,
} from '../tool-trust.js';
import { ConsoleSignInError, type ConsoleAuth, type ConsoleSession } from './auth.js';
import { columns, type Html, html, notice, page, selectField, STYLESHEET, time } from './html.js';

export interface ConsoleDeps {
  auth: ConsoleAuth;
  pipeline: Pipeline;
  store: SessionStore;
  sessions: SessionManager;
  decisionLog: DecisionLog;
  gateway: { id: string; version: string };
  historyLimit: number;
  /** The gateway's base URL: POSTs must come from its origin. */
  baseUrl: () => string;
  logger: Logger;
}

const SESSION_COOKIE = 'mcpgate_console';
const LOGIN_COOKIE = 'mcpgate_console_login';

/** What every console response carries: no script, no framing, no caching, no referrer. */
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // Not no-referrer: with it, browsers send `Origin: null` on the console's own forms.
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
  'cross-origin-opener-policy': 'same-origin',
};

interface SignedIn {
  session: ConsoleSession;
  identity: Identity;
  csrf: string;
}

function cookies(req: Request): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

/** A console path to come back to after signing in (nothing else: no open redirect). */
function safeBack(value: unknown): string {
  return typeof value === 'string' && /^\/console(\/[A-Za-z0-9_/-]*)?$/.test(value)
    ? value
    : '/console/approvals';
}

export function consoleRouter(deps: ConsoleDeps): Router {
  const router = Router();
  const { auth, pipeline } = deps;
  const secure = (): boolean => deps.baseUrl().startsWith('https:') || isLoopback(deps.baseUrl());

  const setCookie = (res: Response, name: string, value: string, maxAgeMs: number): void => {
    res.cookie(name, value, {
      httpOnly: true,
      secure: secure(),
      // Lax: the IdP's redirect back (a cross-site navigation) must bring the login cookie.
      sameSite: 'lax',
      path: '/console',
      maxAge: maxAgeMs,
    });
  };

  router.use('/console', (_req, res, next) => {
    res.set(SECURITY_HEADERS);
    next();
  });

  router.get('/console/static/console.css', (_req, res) => {
    res.type('text/css').send(STYLESHEET);
  });

  router.get('/console', (_req, res) => res.redirect(303, '/console/approvals'));

  router.get('/console/login', async (req, res) => {
    try {
      const { url, cookie } = await auth.begin(safeBack(req.query.back));
      setCookie(res, LOGIN_COOKIE, cookie, 10 * 60 * 1000);
      res.redirect(302, url);
    } catch (err) {
      signInFailed(res, err);
    }
  });

  router.get('/console/callback', async (req, res) => {
    try {
      const current = new URL(req.originalUrl, deps.baseUrl());
      const { session, identity, back } = await auth.finish(current, cookies(req)[LOGIN_COOKIE]);
      res.clearCookie(LOGIN_COOKIE, { path: '/console' });
      setCookie(res, SESSION_COOKIE, auth.seal(session), session.exp - Date.now());
      deps.logger.info('console sign-in', { subject: identity.subject, issuer: identity.issuer });
      res.redirect(303, back);
    } catch (err) {
      signInFailed(res, err);
    }
  });

  const signInFailed = (res: Response, err: unknown): void => {
    if (!(err instanceof ConsoleSignInError)) throw err;
    res
      .status(401)
      .type('html')
      .send(
        page(
          { title: 'Sign-in failed', current: '', user: undefined, csrf: '' },
          html`${notice(err.message, true)}
            <p><a href="/console/login">Sign in again</a></p>`,
        ),
      );
  };

  /** Pages need a signed-in person; others are sent to sign in (GET) or refused (POST). */
  const signedIn = async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const current = await auth.current(cookies(req)[SESSION_COOKIE]);
    if (!current) {
      if (req.method === 'GET') {
        res.redirect(303, `/console/login?back=${encodeURIComponent(req.path)}`);
      } else {
        res.status(401).type('text').send('not signed in: open the console and sign in again');
      }
      return;
    }
    res.locals.console = { ...current, csrf: auth.csrfToken(current.session) } satisfies SignedIn;
    next();
  };

  const form = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 10 });

  /** A POST must carry the session's CSRF token and come from the console's own origin. */
  const checked = (req: Request, res: Response, next: NextFunction): void => {
    const me = res.locals.console as SignedIn;
    const origin = req.headers.origin;
    const body = req.body as Record<string, unknown> | undefined;
    if (origin !== undefined && origin !== new URL(deps.baseUrl()).origin) {
      res.status(403).type('text').send('refused: this form was not sent from the console');
      return;
    }
    if (!auth.csrfMatches(me.session, body?.csrf)) {
      res
        .status(403)
        .type('text')
        .send('refused: the form has no valid CSRF token; reload the page and try again');
      return;
    }
    next();
  };

  const me = (res: Response): SignedIn => res.locals.console as SignedIn;

  const render = (res: Response, status: number, title: string, current: string, body: Html) => {
    const who = me(res);
    res
      .status(status)
      .type('html')
      .send(page({ title, current, user: displayName(who.identity), csrf: who.csrf }, body));
  };

  /** The policy's verdict on a console action; renders the refusal when it is one. */
  const permitted = async (
    res: Response,
    req: Request,
    action: Parameters<typeof buildOperatorInput>[0],
    current: string,
    approval?: ApprovalFacts,
    parent?: string,
  ): Promise<boolean> => {
    const who = me(res);
    const input = buildOperatorInput(
      action,
      who.identity,
      deps.gateway,
      approval === undefined ? {} : { approval },
    );
    const { decision, unrecorded } = await pipeline.decideAdminInput(
      input,
      req.socket.remoteAddress,
      parent,
    );
    if (unrecorded !== undefined) {
      render(res, 503, 'Unavailable', current, notice(unrecorded, true));
      return false;
    }
    if (decision.allow) return true;
    refused(res, current, decision.reasons);
    return false;
  };

  /** The policy's refusal, with its reasons. */
  const refused = (res: Response, current: string, reasons: string[]): void =>
    render(
      res,
      403,
      'Not allowed',
      current,
      html`${notice('The policy does not let you do this:', true)}
        <ul>
          ${reasons.map((r) => html`<li>${r}</li>`)}
        </ul>`,
    );

  const storeDown = (res: Response, current: string, err: unknown): void => {
    if (!(err instanceof StoreUnavailableError)) throw err;
    render(res, 503, 'Unavailable', current, notice(err.message, true));
  };

  router.post('/console/logout', signedIn, form, checked, (_req, res) => {
    res.clearCookie(SESSION_COOKIE, { path: '/console' });
    res
      .type('html')
      .send(
        page(
          { title: 'Signed out', current: '', user: undefined, csrf: '' },
          html`<p><a href="/console/login">Sign in again</a></p>`,
        ),
      );
  });

  // --- Approvals -------------------------------------------------------------------

  router.get('/console/approvals', signedIn, async (req, res) => {
    try {
      if (!(await permitted(res, req, 'admin/approvals/list', '/console/approvals'))) return;
      const now = Date.now();
      const records = await pipeline.approvals.list();
      const pending = records.filter((r) => stateAt(r, now) === 'pending');
      const rest = records.filter((r) => stateAt(r, now) !== 'pending').slice(0, 50);
      render(
        res,
        200,
        'Approvals',
        '/console/approvals',
        html`<h2>Pending (${pending.length})</h2>
          ${approvalTable(pending, now, 'No call is waiting for approval.')}
          <h2>Recently decided</h2>
          ${approvalTable(rest, now, 'Nothing decided recently.')}`,
      );
    } catch (err) {
      storeDown(res, '/console/approvals', err);
    }
  });

  const approvalPage = async (
    req: Request,
    res: Response,
    message?: { text: string; failed: boolean; status: number },
  ): Promise<void> => {
    const id = String(req.params.id);
    const record = APPROVAL_ID.test(id) ? await pipeline.approvals.read({ id }) : undefined;
    if (!record) {
      render(
        res,
        404,
        'No such approval',
        '/console/approvals',
        notice(`There is no approval ${id}.`, true),
      );
      return;
    }
    if (message === undefined) {
      const facts = approvalFacts(record, 'none');
      if (
        !(await permitted(
          res,
          req,
          'admin/approvals/show',
          '/console/approvals',
          facts,
          record.decisionId,
        ))
      )
        return;
    }
    render(
      res,
      message?.status ?? 200,
      `Approval of ${record.tool.id}`,
      '/console/approvals',
      html`${notice(message?.text, message?.failed ?? false)}${approvalDetail(record, Date.now(), me(res).csrf)}`,
    );
  };

  router.get('/console/approvals/:id', signedIn, async (req, res) => {
    try {
      await approvalPage(req, res);
    } catch (err) {
      storeDown(res, '/console/approvals', err);
    }
  });

  router.post('/console/approvals/:id', signedIn, form, checked, async (req, res) => {
    const body = req.body as Record<string, unknown>;
    const verdict = body.verdict;
    const comment = typeof body.comment === 'string' ? body.comment.slice(0, 1000) : '';
    const id = String(req.params.id);
    try {
      if ((verdict !== 'approve' && verdict !== 'deny') || !APPROVAL_ID.test(id)) {
        await approvalPage(req, res, {
          text: 'Choose approve or deny.',
          failed: true,
          status: 400,
        });
        return;
      }
      const outcome = await pipeline.approvals.decide({
        identity: me(res).identity,
        remoteAddress: req.socket.remoteAddress,
        id,
        verdict,
        comment,
      });
      switch (outcome.kind) {
        case 'decided':
          await approvalPage(req, res, {
            text: `You ${outcome.record.state} this call.`,
            failed: false,
            status: 200,
          });
          return;
        case 'forbidden':
          await approvalPage(req, res, {
            text: `Not allowed: ${outcome.reasons.join('; ')}`,
            failed: true,
            status: 403,
          });
          return;
        case 'not_pending':
          await approvalPage(req, res, {
            text: `This approval is ${stateAt(outcome.record, Date.now())}; nothing was changed.`,
            failed: true,
            status: 409,
          });
          return;
        case 'unrecorded':
          render(res, 503, 'Unavailable', '/console/approvals', notice(outcome.reason, true));
          return;
        case 'not_found':
          await approvalPage(req, res);
      }
    } catch (err) {
      storeDown(res, '/console/approvals', err);
    }
  });

  // --- Sessions ----------------------------------------------------------------------

  router.get('/console/sessions', signedIn, async (req, res) => {
    try {
      if (!(await permitted(res, req, 'admin/sessions/list', '/console/sessions'))) return;
      const now = Date.now();
      const list = await deps.store.list();
      render(
        res,
        200,
        'Sessions',
        '/console/sessions',
        list.length === 0
          ? html`<p>No session is open.</p>`
          : html`<table>
              <caption class="visually-hidden">
                Open sessions, oldest first
              </caption>
              ${columns('Session', 'User', 'Purpose', 'Client', 'Opened', 'Idle')}
              <tbody>
                ${list.map(
                  (s) =>
                    html`<tr>
                      <td><a href="/console/sessions/${s.id}">${s.id.slice(0, 12)}…</a></td>
                      <td>${s.subject}</td>
                      <td>${s.purpose}</td>
                      <td>${s.clientInfo ? `${s.clientInfo.name} ${s.clientInfo.version}` : ''}</td>
                      <td>${time(s.createdAt)}</td>
                      <td>${Math.max(0, Math.floor((now - s.lastUsedAt) / 1000))} s</td>
                    </tr>`,
                )}
              </tbody>
            </table>`,
      );
    } catch (err) {
      storeDown(res, '/console/sessions', err);
    }
  });

  const sessionPage = async (req: Request, res: Response, message?: string): Promise<void> => {
    const id = String(req.params.id);
    const loaded = await deps.store.load(id, deps.historyLimit, []);
    if (!loaded) {
      render(
        res,
        message ? 200 : 404,
        'No such session',
        '/console/sessions',
        html`${notice(message, false)}${notice(`There is no session ${id} (it ended, or never was).`, !message)}`,
      );
      return;
    }
    const { record } = loaded;
    render(
      res,
      200,
      `Session ${id.slice(0, 12)}…`,
      '/console/sessions',
      html`${notice(message, false)}
        <dl>
          <dt>Id</dt>
          <dd><code>${record.id}</code></dd>
          <dt>User</dt>
          <dd>${record.subject}</dd>
          <dt>Purpose</dt>
          <dd>${record.purpose}</dd>
          <dt>Opened</dt>
          <dd>${time(record.createdAt)}</dd>
          <dt>Expires</dt>
          <dd>${record.expiresAt === null ? 'when idle' : time(record.expiresAt)}</dd>
          <dt>Client</dt>
          <dd>
            ${record.clientInfo ? `${record.clientInfo.name} ${record.clientInfo.version}` : 'unknown'}
          </dd>
          <dt>Calls</dt>
          <dd>${loaded.counters.calls} (${loaded.counters.denied} denied)</dd>
        </dl>
        <h2>Targets</h2>
        <pre>${JSON.stringify(policySummary(loaded.summary), null, 2)}</pre>
        <h2>Recent calls</h2>
        <pre>${JSON.stringify(loaded.history, null, 2)}</pre>
        <form method="post" action="/console/sessions/${record.id}/kill" class="decide">
          <input type="hidden" name="csrf" value="${me(res).csrf}" />
          <p>Ending the session stops it on every replica; its client must open a new one.</p>
          <div class="actions">
            <button type="submit" class="secondary">Kill this session</button>
          </div>
        </form>`,
    );
  };

  router.get('/console/sessions/:id', signedIn, async (req, res) => {
    try {
      const who = me(res);
      const { decision } = await pipeline.decideAdmin({
        identity: who.identity,
        operation: 'show',
        sessionId: String(req.params.id),
        remoteAddress: req.socket.remoteAddress,
      });
      if (!decision.allow) {
        refused(res, '/console/sessions', decision.reasons);
        return;
      }
      await sessionPage(req, res);
    } catch (err) {
      storeDown(res, '/console/sessions', err);
    }
  });

  router.post('/console/sessions/:id/kill', signedIn, form, checked, async (req, res) => {
    const id = String(req.params.id);
    try {
      const who = me(res);
      const { decision } = await pipeline.decideAdmin({
        identity: who.identity,
        operation: 'kill',
        sessionId: id,
        remoteAddress: req.socket.remoteAddress,
      });
      if (!decision.allow) {
        refused(res, '/console/sessions', decision.reasons);
        return;
      }
      await deps.store.terminate(id, 'killed by an administrator (console)');
      await deps.sessions.endLocal(id, 'killed by an administrator (console)');
      deps.logger.info('session killed by an administrator', {
        session: id.slice(0, 8),
        by: who.identity.subject,
      });
      await sessionPage(req, res, 'The session was killed.');
    } catch (err) {
      storeDown(res, '/console/sessions', err);
    }
  });

  // --- Recent decisions -----------------------------------------------------------------

  router.get('/console/decisions', signedIn, async (req, res) => {
    if (!(await permitted(res, req, 'admin/decisions/list', '/console/decisions'))) return;
    const filter = {
      user: typeof req.query.user === 'string' ? req.query.user.slice(0, 200) : '',
      tool: typeof req.query.tool === 'string' ? req.query.tool.slice(0, 200) : '',
      outcome:
        req.query.outcome === 'allow' || req.query.outcome === 'deny' ? req.query.outcome : '',
    };
    const rows = deps.decisionLog
      .recent()
      .map(parseEvent)
      .filter((e): e is DecisionRow => e !== undefined)
      .filter(
        (e) =>
          (filter.user === '' || e.user.includes(filter.user)) &&
          (filter.tool === '' || e.target.includes(filter.tool)) &&
          (filter.outcome === '' || e.outcome === filter.outcome),
      )
      .reverse()
      .slice(0, 200);
    render(
      res,
      200,
      'Recent decisions',
      '/console/decisions',
      html`<form method="get" action="/console/decisions" class="filters" role="search">
          <div>
            <label for="user">User</label><input id="user" name="user" value="${filter.user}" />
          </div>
          <div>
            <label for="tool">Tool or target</label
            ><input id="tool" name="tool" value="${filter.tool}" />
          </div>
          ${selectField(
            'outcome',
            'Outcome',
            [
              ['', 'allow and deny'],
              ['allow', 'allow'],
              ['deny', 'deny'],
            ],
            filter.outcome,
          )}
          <div><button type="submit">Filter</button></div>
        </form>
        <p>
          The last decisions of this gateway process (at most 500 are kept in memory; the decision
          log has them all).
        </p>
        <table>
          ${columns('Time', 'User', 'Action', 'Target', 'Outcome', 'Reasons', 'Decision id')}
          <tbody>
            ${rows.map(
              (e) =>
                html`<tr>
                  <td>${e.time}</td>
                  <td>${e.user}</td>
                  <td>${e.action}</td>
                  <td>${e.target}</td>
                  <td><span class="state state-${e.outcome}">${e.outcome}</span></td>
                  <td>${e.reasons}</td>
                  <td><code>${e.id.slice(0, 8)}</code></td>
                </tr>`,
            )}
          </tbody>
        </table>`,
    );
  });

  // --- Tool trust ------------------------------------------------------------------------

  router.get('/console/tools', signedIn, async (req, res) => {
    const parsed = parseToolTrustFilter(req.query);
    if ('error' in parsed) {
      render(res, 400, 'Tools', '/console/tools', notice(`Bad filter: ${parsed.error}.`, true));
      return;
    }
    if (!(await permitted(res, req, 'admin/tools/list', '/console/tools'))) return;
    const { revision, items } = pipeline.toolTrust();
    render(
      res,
      200,
      'Tools',
      '/console/tools',
      toolsPage(revision, items, parsed.filter, countItems(items)),
    );
  });

  return router;
}

/** The tools page shows at most this many rows; the filter narrows the rest down. */
const MAX_TOOL_ROWS = 500;

const KIND_NAMES: Record<CatalogReviewItem['kind'], string> = {
  tool: 'tool',
  prompt: 'prompt',
  resource: 'resource',
  resource_template: 'resource template',
};

function toolsPage(
  revision: string | undefined,
  items: CatalogReviewItem[],
  filter: ToolTrustFilter,
  counts: ToolTrustCounts,
): Html {
  // What needs a reviewer first; otherwise kind, then id.
  const selected = selectItems(items, filter).sort(
    (a, b) => Number(a.attention.length === 0) - Number(b.attention.length === 0),
  );
  const rows = selected.slice(0, MAX_TOOL_ROWS);
  const servers = [...new Set(items.map((i) => i.server))].sort();
  return html`<p>
      Every tool, prompt, resource and resource template the upstreams list now, with its pin state
      under the policy in force
      (${
        revision === undefined
          ? 'none is loaded: nothing is pinned'
          : html`revision <code>${revision}</code>`
      })
      and what the poisoning scan found. With the shipped policy, a changed item and one with
      high-severity findings its pin does not acknowledge are quarantined for every purpose, and an
      item awaiting pinning is hidden from purposes that use only pinned definitions.
    </p>
    <p class="notice">
      This page only shows. Approving a definition is a reviewed, signed change to the policy: run
      the command shown where the policy is kept, review the diff of
      <code>rego/pins/data.json</code>, then build, sign and deploy the bundle (<code
        >mcpgate policy build</code
      >).
    </p>
    <p>
      <strong>${counts.attention} of ${counts.items} items need attention</strong>:
      ${counts.pending} awaiting pinning, ${counts.changed} changed, ${counts.high_findings} with
      high-severity findings not acknowledged; ${counts.pinned} pinned.
    </p>
    <form method="get" action="/console/tools" class="filters" role="search">
      ${selectField(
        'show',
        'Show',
        [
          ['all', 'every item'],
          ['attention', 'needs attention'],
        ],
        filter.show,
      )}
      ${selectField(
        'kind',
        'Kind',
        [['', 'every kind'], ...ITEM_KINDS.map((k) => [k, KIND_NAMES[k]] as const)],
        filter.kind,
      )}
      ${selectField(
        'server',
        'Upstream',
        [['', 'every upstream'], ...servers.map((name) => [name, name] as const)],
        filter.server,
      )}
      <div><label for="q">Id contains</label><input id="q" name="q" value="${filter.q}" /></div>
      <div><button type="submit">Filter</button></div>
    </form>
    ${
      selected.length > rows.length
        ? html`<p>
            Showing the first ${rows.length} of ${selected.length} items; narrow the filter.
          </p>`
        : html``
    }
    ${
      rows.length === 0
        ? html`<p>
            ${filter.show === 'attention' ? 'Nothing needs attention.' : 'No item matches.'}
          </p>`
        : html`<table id="tools">
            <caption class="visually-hidden">
              Catalog items with their pin state, findings and what to do
            </caption>
            ${columns('Item', 'Kind', 'Pin', 'Findings', 'Needs attention', 'To review and pin')}
            <tbody>
              ${rows.map(toolRow)}
            </tbody>
          </table>`
    }`;
}

function toolRow(item: CatalogReviewItem): Html {
  const { pin } = item;
  const attention = item.attention.map((a) =>
    a === 'pending'
      ? 'awaiting pinning'
      : a === 'changed'
        ? `changed: ${(pin.changed ?? []).join(', ')}`
        : 'high-severity findings not acknowledged',
  );
  return html`<tr>
    <th scope="row">
      <code>${item.id}</code>
      <details>
        <summary>Description</summary>
        <pre class="description">${item.description === '' ? '(none)' : item.description}</pre>
      </details>
    </th>
    <td>${KIND_NAMES[item.kind]}</td>
    <td>
      <span class="state state-${pin.state}">${pin.state}</span>
      ${
        pin.state === 'changed'
          ? html`<br />${pin.since === 'pin' ? 'since its pin' : 'since first seen, no pin'}:
              ${(pin.changed ?? []).join(', ')}`
          : html``
      }
      ${
        pin.acknowledged !== undefined && pin.acknowledged.length > 0
          ? html`<br />acknowledges ${pin.acknowledged.join(', ')}`
          : html``
      }
    </td>
    <td>
      ${
        item.findings.length === 0
          ? 'none'
          : html`<ul class="findings">
              ${item.findings.map(
                (f) =>
                  html`<li>
                    <span class="severity severity-${f.severity}">${f.severity}</span>
                    <code>${f.detector}</code> in <code>${f.field}</code>${
                      f.acknowledged ? ' (acknowledged)' : ''
                    } <br /><span class="excerpt">${f.excerpt}</span>
                  </li>`,
              )}
            </ul>`
      }
    </td>
    <td>
      ${
        attention.length === 0
          ? 'nothing'
          : html`<ul class="attention">
              ${attention.map((a) => html`<li>${a}</li>`)}
            </ul>`
      }
    </td>
    <td>${item.command === undefined ? 'nothing to do' : html`<code>${item.command}</code>`}</td>
  </tr>`;
}

interface DecisionRow {
  id: string;
  time: string;
  user: string;
  action: string;
  target: string;
  outcome: 'allow' | 'deny' | 'event';
  reasons: string;
}

/** One logged event as a row; approval events show their step. */
function parseEvent(line: string): DecisionRow | undefined {
  try {
    const e = JSON.parse(line) as {
      decision_id: string;
      timestamp: string;
      path: string;
      input?: {
        action?: string;
        identity?: { subject?: string };
        tool?: { id?: string };
        resource?: { id?: string };
        prompt?: { id?: string };
        admin?: {
          session_id?: string;
          approval?: { tool?: string; requester?: { subject?: string } };
        };
        approval?: { tool?: string; requester?: { subject?: string } };
      };
      result?: { allow?: boolean; reasons?: string[]; event?: string } | unknown[];
    };
    const input = e.input ?? {};
    const result = Array.isArray(e.result) ? undefined : e.result;
    const approval = input.approval ?? input.admin?.approval;
    return {
      id: e.decision_id,
      time: e.timestamp.replace('T', ' ').slice(0, 19),
      user: input.identity?.subject ?? approval?.requester?.subject ?? '',
      action: input.action ?? (result?.event ? `approval ${result.event}` : e.path),
      target:
        input.tool?.id ??
        input.resource?.id ??
        input.prompt?.id ??
        approval?.tool ??
        input.admin?.session_id ??
        '',
      outcome: result?.allow === true ? 'allow' : result?.allow === false ? 'deny' : 'event',
      reasons: (result?.reasons ?? []).join('; '),
    };
  } catch {
    return undefined;
  }
}

function approvalTable(records: ApprovalRecord[], now: number, empty: string): Html {
  if (records.length === 0) return html`<p>${empty}</p>`;
  return html`<table>
    ${columns('Tool', 'Requested by', 'Purpose', 'Why', 'Requested', 'Expires', 'State')}
    <tbody>
      ${records.map((r) => {
        const state = stateAt(r, now);
        return html`<tr>
          <td><a href="/console/approvals/${r.id}">${r.tool.id}</a></td>
          <td>${r.subject}</td>
          <td>${r.purpose}</td>
          <td>${r.reason}</td>
          <td>${time(r.createdAt)}</td>
          <td>${time(r.expiresAt)}</td>
          <td><span class="state state-${state}">${state}</span></td>
        </tr>`;
      })}
    </tbody>
  </table>`;
}

function approvalDetail(record: ApprovalRecord, now: number, csrf: string): Html {
  const state = stateAt(record, now);
  let args = record.arguments;
  try {
    args = JSON.stringify(JSON.parse(record.arguments), null, 2);
  } catch {
    // shown as stored
  }
  const approvers = [
    ...record.approvers.roles.map((r) => `role ${r}`),
    ...record.approvers.groups.map((g) => `group ${g}`),
    ...(record.self ? ['the requester (self-approval)'] : []),
  ].join(', ');
  return html`<dl>
      <dt>State</dt>
      <dd><span class="state state-${state}">${state}</span></dd>
      <dt>Tool</dt>
      <dd><code>${record.tool.id}</code> (called as <code>${record.tool.exposed}</code>)</dd>
      <dt>Why approval</dt>
      <dd>${record.reason}</dd>
      <dt>Requested by</dt>
      <dd>${record.subject}, purpose ${record.purpose}</dd>
      <dt>May approve</dt>
      <dd>${approvers}</dd>
      <dt>Session</dt>
      <dd>
        <code>${record.sessionId.slice(0, 12)}…</code>: ${record.risk.calls} calls,
        ${record.risk.denied} denied
      </dd>
      <dt>Findings</dt>
      <dd>${record.risk.findings.length === 0 ? 'none' : JSON.stringify(record.risk.findings)}</dd>
      <dt>Requested</dt>
      <dd>${time(record.createdAt)}</dd>
      <dt>Expires</dt>
      <dd>${time(record.expiresAt)}</dd>
      <dt>Tool definition</dt>
      <dd><code>${record.definitionHash.slice(0, 16)}</code></dd>
      <dt>Decision id</dt>
      <dd><code>${record.decisionId}</code></dd>
      ${
        record.decidedBy === undefined
          ? html``
          : html`<dt>Decided by</dt>
              <dd>${subjectOf(record.decidedBy)} at ${time(record.decidedAt)}</dd>
              <dt>Comment</dt>
              <dd>${record.comment ?? ''}</dd>`
      }
    </dl>
    <h2>Arguments, exactly as the call will run</h2>
    <pre id="arguments">${args}</pre>
    ${
      state === 'pending'
        ? html`<form method="post" action="/console/approvals/${record.id}" class="decide">
            <input type="hidden" name="csrf" value="${csrf}" />
            <label for="comment">Comment (recorded with your decision)</label>
            <textarea id="comment" name="comment" maxlength="1000"></textarea>
            <div class="actions">
              <button type="submit" name="verdict" value="approve">Approve</button>
              <button type="submit" name="verdict" value="deny" class="secondary">Deny</button>
            </div>
          </form>`
        : html``
    }`;
}

/**
 * How the header names the signed-in person: a login or e-mail the IdP sent, else the stable
 * subject (Okta's subject is an id such as 00u…, its `sub` claim the login).
 */
function displayName(identity: Identity): string {
  const { claims } = identity;
  for (const name of [claims.preferred_username, claims.email, claims.sub]) {
    if (typeof name === 'string' && name !== '') return name;
  }
  return identity.subject;
}

function isLoopback(base: string): boolean {
  const host = new URL(base).hostname;
  return host === 'localhost' || host === '127.0.0.1' || host === '[::1]';
}
