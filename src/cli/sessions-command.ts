// `mcpgate sessions list|show ID|kill ID`: the admin API of a running gateway. The token
// (--token or $MCPGATE_ADMIN_TOKEN) must belong to a user the policy lets administer
// sessions (by default: the mcpgate.admin role).
import { parseCommand, UsageError, type CommandSpec } from '../util/command-spec.js';
import { unreachableText } from '../util/unreachable.js';
import { refusalOf } from './gateway-answer.js';

interface SessionView {
  id: string;
  subject: string;
  purpose: string;
  created_at: string;
  expires_at: string | null;
  /** Seconds since the session was last used (absent from gateways before it was listed). */
  idle_s?: number;
}

/** 45s, 4m05s, 2h03m: how long a session has been idle. */
export function idleText(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${pad(seconds % 60)}s`;
  return `${Math.floor(seconds / 3600)}h${pad(Math.floor((seconds % 3600) / 60))}m`;
}

const GATEWAY_OPTIONS = {
  url: {
    type: 'string',
    value: 'URL',
    default: 'http://127.0.0.1:8080',
    help: "the gateway's base URL",
  },
  token: {
    type: 'string',
    value: 'TOKEN',
    defaultText: '$MCPGATE_ADMIN_TOKEN',
    help: 'an access token the policy admits as an administrator',
  },
} as const;

const JSON_OPTION = {
  type: 'boolean',
  default: false,
  help: "print the gateway's answer as JSON",
} as const;

const ID_ARG = [{ name: 'ID', help: 'the session id (from `mcpgate sessions list`)' }] as const;

/** How to get a token `sessions` accepts, for every sessions command's help. */
const ADMIN_TOKEN_HELP =
  'The policy decides who may administer sessions: the shipped policy admits users with the mcpgate.admin role (an Entra app role or an Okta roles claim; see rego/mcp/admin/admin.rego). With the quickstart, the development IdP mints such a token, as in the example.';

export const SESSIONS_LIST_SPEC = {
  name: 'sessions list',
  summary: 'list the sessions of a running gateway, with how long each has been idle',
  options: { ...GATEWAY_OPTIONS, json: JSON_OPTION },
  details: [
    'One line per session: id, subject, purpose, when it was opened, how long it has been idle (no request), and when its policy-given lifetime ends. A session idle for sessions.idle_timeout_s ends by itself; clients end theirs with DELETE /mcp.',
    ADMIN_TOKEN_HELP,
  ],
  example: [
    'ADMIN_TOKEN=$(mcpgate dev-token --user admin --roles mcpgate.admin)',
    'mcpgate sessions list --url http://127.0.0.1:8080 --token "$ADMIN_TOKEN"',
  ],
} as const satisfies CommandSpec;

export const SESSIONS_SHOW_SPEC = {
  name: 'sessions show',
  summary: 'show one session: owner, purpose, lifetime, counters and recent history',
  args: ID_ARG,
  options: GATEWAY_OPTIONS,
  details: ['Prints the JSON the gateway answers.', ADMIN_TOKEN_HELP],
  example: [
    'ADMIN_TOKEN=$(mcpgate dev-token --user admin --roles mcpgate.admin)',
    'mcpgate sessions show 3f9c2a... --token "$ADMIN_TOKEN"',
  ],
} as const satisfies CommandSpec;

export const SESSIONS_KILL_SPEC = {
  name: 'sessions kill',
  summary: 'end one session now, on every replica',
  args: ID_ARG,
  options: GATEWAY_OPTIONS,
  details: [
    "The session's next request is refused; its client has to open a new session.",
    ADMIN_TOKEN_HELP,
  ],
  example: [
    'ADMIN_TOKEN=$(mcpgate dev-token --user admin --roles mcpgate.admin)',
    'mcpgate sessions kill 3f9c2a... --token "$ADMIN_TOKEN"',
  ],
} as const satisfies CommandSpec;

export const SESSIONS_SPECS = {
  list: SESSIONS_LIST_SPEC,
  show: SESSIONS_SHOW_SPEC,
  kill: SESSIONS_KILL_SPEC,
} as const;

export type SessionsOperation = keyof typeof SESSIONS_SPECS;

/** The admin token: --token, else $MCPGATE_ADMIN_TOKEN. */
function adminToken(command: string, flag: string | undefined): string {
  const token = flag ?? process.env.MCPGATE_ADMIN_TOKEN;
  if (!token) {
    throw new UsageError(
      command,
      'needs an admin token: --token TOKEN or the environment variable MCPGATE_ADMIN_TOKEN ' +
        '(with the quickstart: --token "$(mcpgate dev-token --user admin --roles mcpgate.admin)")',
    );
  }
  return token;
}

export async function sessionsCommand(
  operation: SessionsOperation,
  argv: string[],
): Promise<number> {
  let request: { url: string; token: string; method: string; path: string; json: boolean };
  let id = '';
  if (operation === 'list') {
    const { values } = parseCommand(SESSIONS_LIST_SPEC, argv);
    request = {
      url: values.url,
      token: adminToken(SESSIONS_LIST_SPEC.name, values.token),
      method: 'GET',
      path: '/admin/sessions',
      json: values.json,
    };
  } else {
    const spec = SESSIONS_SPECS[operation];
    const { values, positionals } = parseCommand(spec, argv);
    id = positionals[0] ?? '';
    if (id === '') throw new UsageError(spec.name, `needs a session id: mcpgate ${spec.name} ID`);
    request = {
      url: values.url,
      token: adminToken(spec.name, values.token),
      method: operation === 'kill' ? 'DELETE' : 'GET',
      path: `/admin/sessions/${encodeURIComponent(id)}`,
      json: operation === 'show',
    };
  }
  const base = request.url.replace(/\/+$/, '');
  let response: Response;
  try {
    response = await fetch(`${base}${request.path}`, {
      method: request.method,
      headers: { authorization: `Bearer ${request.token}` },
    });
  } catch (err) {
    console.error(unreachableText('the gateway', base, err));
    return 1;
  }
  if (!response.ok) {
    console.error(await refusalOf(response));
    return 1;
  }
  let body: Record<string, unknown>;
  try {
    body = (await response.json()) as Record<string, unknown>;
  } catch {
    console.error(`the gateway at ${base} answered ${response.status} but not with JSON`);
    return 1;
  }
  if (request.json) {
    console.log(JSON.stringify(body, null, 2));
  } else if (operation === 'list') {
    const sessions = (body.sessions ?? []) as SessionView[];
    for (const s of sessions) {
      const idle = typeof s.idle_s === 'number' ? `  idle ${idleText(s.idle_s)}` : '';
      console.log(
        `${s.id}  ${s.subject}  ${s.purpose}  since ${s.created_at}${idle}${s.expires_at ? `  until ${s.expires_at}` : ''}`,
      );
    }
    console.log(`${sessions.length} session(s)`);
  } else {
    console.log(`killed ${id}`);
  }
  return 0;
}
