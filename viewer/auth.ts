/**
 * Token authentication, as Jupyter Server does it: `Authorization: token <t>` (or
 * `Bearer`), or `?token=<t>` once, which sets an HttpOnly cookie. Tokens are compared in
 * constant time. The cookie never holds the token: it is `<expiry>.<HMAC>`, keyed by the
 * token's digest and a random key made when the server starts, so a cookie stops working
 * after COOKIE_MAX_AGE_S (checked here, not only by the browser) and whenever the server
 * restarts, even with the same MILLRACE_SERVE_TOKEN.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const COOKIE_NAME = 'millrace-viewer';
/** How long a cookie set by `?token=` lasts: a working day. */
export const COOKIE_MAX_AGE_S = 12 * 60 * 60;

export type AuthResult = 'ok' | 'missing' | 'wrong' | 'expired';

export function newToken(): string {
  return randomBytes(24).toString('hex');
}

function digest(value: string): Buffer {
  return createHmac('sha256', 'millrace-viewer-token').update(value).digest();
}

function cookies(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return out;
}

export class TokenAuth {
  private readonly expected: Buffer;
  private readonly cookieKey: Buffer;

  /** `now` (milliseconds) is for tests. */
  constructor(
    token: string,
    private readonly now: () => number = Date.now,
  ) {
    this.expected = digest(token);
    this.cookieKey = Buffer.concat([this.expected, randomBytes(32)]);
  }

  private matches(candidate: string): boolean {
    return timingSafeEqual(digest(candidate), this.expected);
  }

  private cookieMac(expiry: string): string {
    return createHmac('sha256', this.cookieKey).update(`cookie ${expiry}`).digest('hex');
  }

  /** A new session cookie's value: its expiry (Unix seconds) and the HMAC of it. */
  cookieValue(): string {
    const expiry = String(Math.floor(this.now() / 1000) + COOKIE_MAX_AGE_S);
    return `${expiry}.${this.cookieMac(expiry)}`;
  }

  setCookieHeader(): string {
    return `${COOKIE_NAME}=${this.cookieValue()}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${COOKIE_MAX_AGE_S}`;
  }

  private checkCookie(cookie: string): AuthResult {
    const m = /^(\d{1,12})\.([0-9a-f]{64})$/.exec(cookie);
    if (!m) return 'wrong';
    const want = Buffer.from(this.cookieMac(m[1]!));
    if (!timingSafeEqual(Buffer.from(m[2]!), want)) return 'wrong';
    return Number(m[1]) * 1000 > this.now() ? 'ok' : 'expired';
  }

  check(req: IncomingMessage, queryToken: string | null): AuthResult {
    const header = req.headers.authorization;
    if (header) {
      const m = /^(?:token|bearer)\s+(.+)$/i.exec(header.trim());
      return m && this.matches(m[1]!) ? 'ok' : 'wrong';
    }
    if (queryToken !== null) return this.matches(queryToken) ? 'ok' : 'wrong';
    const cookie = cookies(req).get(COOKIE_NAME);
    if (cookie !== undefined) return this.checkCookie(cookie);
    return 'missing';
  }
}
