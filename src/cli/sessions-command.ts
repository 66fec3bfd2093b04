// `mcpgate sessions list|show ID|kill ID`: the admin API of a running gateway. The token
// (--token or $MCPGATE_ADMIN_TOKEN) must belong to a user the policy lets administer
// sessions (by default: the mcpgate.admin role).
import { parseArgs } from 'node:util';

interface SessionView {
  id: string;
  subject: string;
  purpose: string;
  created_at: string;
  expires_at: string | null;
}

export async function sessionsCommand(argv: string[]): Promise<number> {
  const [operation, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      url: { type: 'string', default: 'http://127.0.0.1:8080' },
      token: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const token = values.token ?? process.env.MCPGATE_ADMIN_TOKEN;
  if (!token) {
    console.error('sessions needs an admin token: --token TOKEN or MCPGATE_ADMIN_TOKEN');
    return 2;
  }
  const id = positionals[0];
  let method = 'GET';
  let path = '/admin/sessions';
  if (operation === 'show' || operation === 'kill') {
    if (!id) {
      console.error(`sessions ${operation} needs a session id`);
      return 2;
    }
    path = `/admin/sessions/${encodeURIComponent(id)}`;
    if (operation === 'kill') method = 'DELETE';
  } else if (operation !== 'list') {
    console.error(
      'usage: mcpgate sessions list|show ID|kill ID [--url URL] [--token TOKEN] [--json]',
    );
    return 2;
  }
  const base = values.url.replace(/\/+$/, '');
  let response: Response;
  try {
    response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}` },
    });
  } catch (err) {
    console.error(`cannot reach the gateway at ${base}: ${(err as Error).message}`);
    return 1;
  }
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok) {
    const reasons = Array.isArray(body.reasons) ? `: ${(body.reasons as string[]).join('; ')}` : '';
    const message = typeof body.message === 'string' ? `: ${body.message}` : '';
    const error = typeof body.error === 'string' ? body.error : '';
    console.error(`gateway answered ${response.status} ${error}${reasons}${message}`);
    return 1;
  }
  if (values.json || operation === 'show') {
    console.log(JSON.stringify(body, null, 2));
  } else if (operation === 'list') {
    const sessions = (body.sessions ?? []) as SessionView[];
    for (const s of sessions) {
      console.log(
        `${s.id}  ${s.subject}  ${s.purpose}  since ${s.created_at}${s.expires_at ? `  until ${s.expires_at}` : ''}`,
      );
    }
    console.log(`${sessions.length} session(s)`);
  } else {
    console.log(`killed ${id ?? ''}`);
  }
  return 0;
}
