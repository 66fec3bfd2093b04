// URL-mode elicitations a session's client was asked, by upstream and elicitation id: an
// upstream says a URL elicitation is complete (notifications/elicitation/complete) on its
// own, often on no request's stream, and only the session that was asked may hear of it.
// Bounded: the oldest are forgotten first, and every entry after an hour.

/** At most this many URL elicitations are remembered at once, over every session. */
export const MAX_URL_ELICITATIONS = 4096;
const REMEMBER_MS = 60 * 60 * 1000;

export class UrlElicitations {
  /** `${server}\n${elicitationId}` → the session asked and when; in insertion order. */
  private readonly asked = new Map<string, { sessionId: string; at: number }>();

  remember(server: string, elicitationId: string, sessionId: string): void {
    const key = `${server}\n${elicitationId}`;
    this.asked.delete(key);
    this.asked.set(key, { sessionId, at: Date.now() });
    while (this.asked.size > MAX_URL_ELICITATIONS) {
      this.asked.delete(this.asked.keys().next().value as string);
    }
  }

  /** The session `server` asked with this elicitation id, once (a completion ends it). */
  take(server: string, elicitationId: string): string | undefined {
    const key = `${server}\n${elicitationId}`;
    const entry = this.asked.get(key);
    if (!entry) return undefined;
    this.asked.delete(key);
    return Date.now() - entry.at > REMEMBER_MS ? undefined : entry.sessionId;
  }

  /** A session ended: its elicitations can complete for nobody. */
  forgetSession(sessionId: string): void {
    for (const [key, entry] of this.asked) {
      if (entry.sessionId === sessionId) this.asked.delete(key);
    }
  }
}
