// `mcpgate doctor --token T`: asks a running gateway what it makes of a token (GET /doctor)
// and says it plainly: refused and why, or the identity the policy sees, the MCP scopes it
// lacks, and which purposes it may open and, if not, why. No session is opened. Made for
// the answers MCP clients hide (the Inspector reports every 401 as an OAuth problem).
import { parseCommand, UsageError, type CommandSpec } from '../util/command-spec.js';
import { unreachableText } from '../util/unreachable.js';
import { refusalOf } from './gateway-answer.js';

export const DOCTOR_SPEC = {
  name: 'doctor',
  summary: 'ask a running gateway what it makes of a token, without opening a session',
  options: {
    token: {
      type: 'string',
      value: 'TOKEN',
      defaultText: '$MCPGATE_TOKEN',
      help: 'the access token to check, as a client would send it',
    },
    url: {
      type: 'string',
      value: 'URL',
      default: 'http://127.0.0.1:8080',
      help: "the gateway's base URL",
    },
    purpose: {
      type: 'string',
      value: 'a,b',
      defaultText:
        "the purpose a session would get (the token's mcp_purpose claim, else sessions.default_purpose)",
      help: 'purposes to ask about (at most 20)',
    },
    json: { type: 'boolean', default: false, help: "print the gateway's answer as JSON" },
  },
  details: [
    "Prints whether the gateway accepts the token and, if not, its reason (the 401 an MCP client may hide); else the issuer, subject, groups, roles and scopes as the policy sees them, the scopes /mcp requires that the token lacks, and the policy's session/open decision for each purpose. Nothing is opened and nothing is written to the decision log. Exits 0 when the token is accepted, has every required scope and may open every purpose asked about; 1 otherwise.",
  ],
  example: [
    'TOKEN=$(mcpgate dev-token --user alice --groups engineering)',
    'mcpgate doctor --token "$TOKEN" --purpose code-review,documentation',
  ],
} as const satisfies CommandSpec;

interface DoctorAnswer {
  gateway: { id: string; version: string };
  policy: { revision: string | null };
  identity: {
    issuer: string;
    subject: string;
    client_id: string;
    token_type: string;
    groups: string[];
    groups_overage: boolean;
    roles: string[];
    scopes: string[];
  };
  mcp_scopes: { required: string[]; missing: string[] };
  purposes: Array<{
    purpose: string;
    source: string;
    allow: boolean;
    reasons: string[];
    session_ttl_s: number | null;
  }>;
}

const listed = (values: string[]): string => (values.length > 0 ? values.join(', ') : '-');

/** The answer as a person reads it. */
export function doctorReport(base: string, answer: DoctorAnswer): string {
  const { identity, mcp_scopes: scopes } = answer;
  const lines = [
    `gateway ${answer.gateway.id} ${answer.gateway.version} at ${base}, policy ${answer.policy.revision ?? '(none loaded: every request is denied)'}`,
    'token: accepted',
    `  issuer    ${identity.issuer}`,
    `  subject   ${identity.subject} (${identity.token_type} token, client ${identity.client_id})`,
    `  groups    ${identity.groups_overage ? 'too many for the token (groups overage); ' : ''}${listed(identity.groups)}`,
    `  roles     ${listed(identity.roles)}`,
    `  scopes    ${listed(identity.scopes)}`,
    scopes.missing.length > 0
      ? `  /mcp refuses it: it lacks the scope(s) ${scopes.missing.join(' ')} (403 insufficient_scope)`
      : `  /mcp requires ${scopes.required.length > 0 ? scopes.required.join(' ') : 'no scope'}: ok`,
    'purposes (session/open as the policy decides it; no session was opened):',
  ];
  const width = Math.max(...answer.purposes.map((p) => p.purpose.length));
  for (const p of answer.purposes) {
    const verdict = p.allow
      ? `may open${p.session_ttl_s !== null ? ` (sessions last ${p.session_ttl_s} s)` : ''}`
      : 'cannot open';
    lines.push(`  ${p.purpose.padEnd(width)}  ${verdict}: ${p.reasons.join('; ')}`);
  }
  const defaulted = answer.purposes.find((p) => p.source !== 'asked');
  if (defaulted !== undefined) {
    lines.push(
      `  (${defaulted.purpose} is from ${defaulted.source}; ask about others with --purpose a,b)`,
    );
  }
  return lines.join('\n');
}

export async function doctorCommand(argv: string[]): Promise<number> {
  const { values } = parseCommand(DOCTOR_SPEC, argv);
  const token = values.token ?? process.env.MCPGATE_TOKEN;
  if (!token) {
    throw new UsageError(
      DOCTOR_SPEC.name,
      'needs the token to check: --token TOKEN or the environment variable MCPGATE_TOKEN',
    );
  }
  const base = values.url.replace(/\/+$/, '');
  const query = new URLSearchParams();
  if (values.purpose !== undefined) query.set('purpose', values.purpose);
  const url = `${base}/doctor${query.size > 0 ? `?${query.toString()}` : ''}`;
  let response: Response;
  try {
    response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  } catch (err) {
    console.error(unreachableText('the gateway', base, err));
    return 1;
  }
  if (!response.ok) {
    const refusal = await refusalOf(response);
    console.error(response.status === 401 ? `token: refused: ${refusal}` : refusal);
    return 1;
  }
  const answer = (await response.json()) as DoctorAnswer;
  console.log(values.json ? JSON.stringify(answer, null, 2) : doctorReport(base, answer));
  const fine = answer.mcp_scopes.missing.length === 0 && answer.purposes.every((p) => p.allow);
  return fine ? 0 : 1;
}
