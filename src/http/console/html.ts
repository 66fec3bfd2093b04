// The console's pages: server-rendered HTML, no script at all (the Content Security Policy
// forbids it), one stylesheet. Every value from outside (arguments, names, reasons,
// comments, tool descriptions) goes through `text()` or `attr()`; nothing is ever inserted
// raw. The navigation is the PAGES table: a new page is one entry there and one route in
// router.ts.

/** A string made safe for HTML text and double-quoted attribute values. */
export function text(value: string | number | boolean | null | undefined): string {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

export const attr = text;

/** HTML built by these functions: a wrapper, so raw strings cannot be passed by mistake. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** A template tag: interpolated values are escaped unless they are Html already. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

function render(value: unknown): string {
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    return text(value);
  }
  if (value === null || value === undefined) return '';
  // Anything else is a mistake in a page: show it as JSON text, never as markup.
  return text(JSON.stringify(value));
}

export interface ConsolePage {
  path: string;
  title: string;
}

/** The console's pages, in navigation order. */
export const PAGES: readonly ConsolePage[] = [
  { path: '/console/approvals', title: 'Approvals' },
  { path: '/console/sessions', title: 'Sessions' },
  { path: '/console/decisions', title: 'Decisions' },
  { path: '/console/tools', title: 'Tools' },
];

export interface Chrome {
  title: string;
  /** The page's path, marked current in the navigation. */
  current: string;
  /** Who is signed in; undefined on the sign-in page. */
  user: string | undefined;
  csrf: string;
}

export function page(chrome: Chrome, body: Html): string {
  const nav = chrome.user
    ? html`<nav aria-label="Console">
        <ul>
          ${PAGES.map(
            (p) =>
              html`<li>
                <a
                  href="${p.path}"
                  ${new Html(p.path === chrome.current ? ' aria-current="page"' : '')}
                  >${p.title}</a
                >
              </li>`,
          )}
        </ul>
        <form method="post" action="/console/logout" class="signout">
          <input type="hidden" name="csrf" value="${chrome.csrf}" />
          <span>Signed in as <strong>${chrome.user}</strong></span>
          <button type="submit">Sign out</button>
        </form>
      </nav>`
    : html``;
  return `<!doctype html>${
    html`<html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${chrome.title} · mcpgate console</title>
        <link rel="stylesheet" href="/console/static/console.css" />
      </head>
      <body>
        <header>
          <p class="brand">mcpgate console</p>
          ${nav}
        </header>
        <main id="main">
          <h1>${chrome.title}</h1>
          ${body}
        </main>
      </body>
    </html>`.value
  }`;
}

/** A notice at the top of a page (after an action): role=status, or alert for a failure. */
export function notice(message: string | undefined, failed: boolean): Html {
  if (!message) return html``;
  return failed
    ? html`<p class="notice failed" role="alert">${message}</p>`
    : html`<p class="notice" role="status">${message}</p>`;
}

/** A table's header row, one column header per name. */
export function columns(...names: string[]): Html {
  return html`<thead>
    <tr>
      ${names.map((name) => html`<th scope="col">${name}</th>`)}
    </tr>
  </thead>`;
}

/** A labelled drop-down of a filter form, `current` selected; options are [value, text]. */
export function selectField(
  name: string,
  label: string,
  options: ReadonlyArray<readonly [string, string]>,
  current: string,
): Html {
  return html`<div>
    <label for="${name}">${label}</label>
    <select id="${name}" name="${name}">
      ${options.map(
        ([value, shown]) =>
          html`<option value="${value}" ${new Html(value === current ? ' selected' : '')}>
            ${shown}
          </option>`,
      )}
    </select>
  </div>`;
}

export function time(ms: number | undefined): Html {
  if (ms === undefined) return html``;
  const iso = new Date(ms).toISOString();
  return html`<time datetime="${iso}">${iso.replace('T', ' ').slice(0, 19)} UTC</time>`;
}

export const STYLESHEET = `
:root { color-scheme: light; font-family: system-ui, sans-serif; line-height: 1.4; }
body { margin: 0; color: #1b1f24; background: #f6f7f9; }
header { background: #1b2a41; color: #fff; padding: 0.5rem 1.5rem; display: flex; flex-wrap: wrap; align-items: center; gap: 1.5rem; }
header .brand { font-weight: 700; margin: 0; }
nav { display: flex; flex: 1; align-items: center; gap: 1rem; flex-wrap: wrap; }
nav ul { list-style: none; display: flex; gap: 1rem; margin: 0; padding: 0; }
nav a { color: #fff; text-decoration: none; padding: 0.25rem 0.5rem; border-radius: 4px; }
nav a[aria-current="page"], nav a:hover, nav a:focus { background: #38506f; }
.signout { margin-left: auto; display: flex; gap: 0.5rem; align-items: center; }
main { padding: 1rem 1.5rem 3rem; max-width: 80rem; }
h1 { font-size: 1.5rem; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: 0.4rem 0.6rem; border-bottom: 1px solid #d8dde3; vertical-align: top; }
th { background: #eef1f5; }
pre { background: #fff; border: 1px solid #d8dde3; padding: 0.75rem; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.3rem 1rem; background: #fff; padding: 1rem; border: 1px solid #d8dde3; }
dt { font-weight: 600; }
dd { margin: 0; }
.state { font-weight: 600; padding: 0.1rem 0.4rem; border-radius: 4px; background: #e4e7eb; }
.state-pending { background: #fff1c2; } .state-approved, .state-used, .state-allow { background: #d3f3dc; }
.state-denied, .state-expired, .state-deny { background: #fbd5d5; }
.state-pinned { background: #d3f3dc; } .state-changed { background: #fbd5d5; }
.severity { font-weight: 600; text-transform: uppercase; font-size: 0.8rem; }
.severity-high { color: #9b1c1c; } .severity-medium { color: #8a5a00; } .severity-low { color: #4a5563; }
ul.findings, ul.attention { margin: 0; padding-left: 1rem; }
.excerpt { font-family: ui-monospace, monospace; font-size: 0.85rem; overflow-wrap: anywhere; }
td code, th code { overflow-wrap: anywhere; }
th[scope="row"] { background: #fff; font-weight: 400; }
.notice { background: #e6f1ff; border: 1px solid #9cc3f5; padding: 0.5rem 0.75rem; }
.notice.failed { background: #fde8e8; border-color: #f0a3a3; }
form.decide, form.filters { background: #fff; border: 1px solid #d8dde3; padding: 1rem; display: grid; gap: 0.5rem; max-width: 40rem; }
form.filters { grid-template-columns: repeat(auto-fit, minmax(10rem, 1fr)); max-width: none; align-items: end; }
label { font-weight: 600; display: block; }
input, select, textarea, button { font: inherit; }
textarea { width: 100%; min-height: 4rem; }
button { padding: 0.35rem 0.9rem; border-radius: 4px; border: 1px solid #38506f; background: #38506f; color: #fff; cursor: pointer; }
button.secondary { background: #fff; color: #9b1c1c; border-color: #9b1c1c; }
button:focus-visible, a:focus-visible, input:focus-visible, textarea:focus-visible, select:focus-visible, summary:focus-visible { outline: 3px solid #f5a623; outline-offset: 2px; }
.actions { display: flex; gap: 0.5rem; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
`;
