/**
 * Token authentication, as Jupyter Server does it: `Authorization: token <t>` (or
 * `Bearer`), or `?token=<t>` once, which sets an HttpOnly cookie. The cookie holds an HMAC
 * of the token, never the token itself, and tokens are compared in constant time.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const COOKIE_NAME = 'millrace-viewer';

export type AuthResult = 'ok' | 'missing' | 'wrong';

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

  constructor(token: string) {
    this.expected = digest(token);
  }

  private matches(candidate: string): boolean {
    return timingSafeEqual(digest(candidate), this.expected);
  }

  /** The value of the session cookie: an HMAC of the token's digest. */
  cookieValue(): string {
    return createHmac('sha256', this.expected).update('cookie').digest('hex');
  }

  setCookieHeader(): string {
    return `${COOKIE_NAME}=${this.cookieValue()}; HttpOnly; SameSite=Strict; Path=/`;
  }

  check(req: IncomingMessage, queryToken: string | null): AuthResult {
    const header = req.headers.authorization;
    if (header) {
      const m = /^(?:token|bearer)\s+(.+)$/i.exec(header.trim());
      return m && this.matches(m[1]!) ? 'ok' : 'wrong';
    }
    if (queryToken !== null) return this.matches(queryToken) ? 'ok' : 'wrong';
    const cookie = cookies(req).get(COOKIE_NAME);
    if (cookie !== undefined) {
      const want = Buffer.from(this.cookieValue());
      const got = Buffer.from(cookie);
      return got.length === want.length && timingSafeEqual(got, want) ? 'ok' : 'wrong';
    }
    return 'missing';
  }
}
