// What to say when an HTTP request got no answer at all (a CLI command asking the gateway
// or the development IdP).

/**
 * Why a request never got an answer. fetch says only "fetch failed"; the cause says what
 * happened (ECONNREFUSED: nothing listens there).
 */
export function unreachableText(what: string, url: string, err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const detail =
    code === 'ECONNREFUSED'
      ? 'nothing listens there (ECONNREFUSED); is it running, and is the URL right?'
      : typeof cause?.message === 'string'
        ? cause.message
        : err instanceof Error
          ? err.message
          : String(err);
  return `cannot reach ${what} at ${url}: ${detail}`;
}
