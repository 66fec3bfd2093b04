// What a CLI command prints when the gateway refuses: the status and the gateway's own
// reason, whichever shape the answer has. The admin API answers
// {"error": "forbidden", "reasons": [...], "decision_id": ...} or {"error": ..., "message": ...};
// authentication refusals are JSON-RPC errors {"error": {"code", "message"}} with the same
// reason in the WWW-Authenticate challenge's error_description; a proxy in between may
// answer plain text.

/** The reason in a WWW-Authenticate challenge (`error_description="..."`), if any. */
function challengeDescription(header: string | null): string | undefined {
  if (header === null) return undefined;
  return /error_description="([^"]*)"/.exec(header)?.[1];
}

/** One line: `gateway answered 401: invalid token: token is not a well-formed JWT`. */
export function refusalText(
  status: number,
  statusText: string,
  bodyText: string,
  wwwAuthenticate: string | null = null,
): string {
  let body: unknown;
  try {
    body = JSON.parse(bodyText) as unknown;
  } catch {
    body = undefined;
  }
  const parts: string[] = [];
  let label = '';
  if (typeof body === 'object' && body !== null) {
    const answer = body as Record<string, unknown>;
    const error = answer.error;
    if (typeof error === 'string') label = ` ${error}`;
    else if (typeof error === 'object' && error !== null) {
      const message = (error as Record<string, unknown>).message;
      if (typeof message === 'string' && message !== '') parts.push(message);
    }
    if (Array.isArray(answer.reasons)) {
      const reasons = answer.reasons.filter((r): r is string => typeof r === 'string');
      if (reasons.length > 0) parts.push(reasons.join('; '));
    }
    if (typeof answer.message === 'string' && answer.message !== '') parts.push(answer.message);
    if (typeof answer.decision_id === 'string') parts.push(`(decision ${answer.decision_id})`);
  } else if (bodyText.trim() !== '') {
    parts.push(bodyText.trim().slice(0, 500));
  }
  if (parts.length === 0) {
    const described = challengeDescription(wwwAuthenticate);
    parts.push(described ?? `${statusText || 'no reason given'}`);
  }
  return `gateway answered ${status}${label}: ${parts.join(' ')}`;
}

/** refusalText for a fetch Response (reads its body). */
export async function refusalOf(response: Response): Promise<string> {
  const text = await response.text().catch(() => '');
  return refusalText(
    response.status,
    response.statusText,
    text,
    response.headers.get('www-authenticate'),
  );
}
