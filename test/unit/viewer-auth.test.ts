// The viewer's session cookie (issue 14, item 12): it expires, server-side too, and a new
// server start (same token) does not accept an old one; redirects after `?token=` stay on
// this server.
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { COOKIE_MAX_AGE_S, COOKIE_NAME, TokenAuth } from '../../viewer/auth.js';
import { sameOriginPath } from '../../viewer/server.js';

const TOKEN = 'a-token-of-enough-length-0123456789';
const withCookie = (value: string) => ({ headers: { cookie: `other=1; ${COOKIE_NAME}=${value}` } }) as unknown as IncomingMessage;
const valueOf = (header: string) => /^millrace-viewer=([^;]+);/.exec(header)![1]!;

describe('TokenAuth cookies', () => {
  it('sets an HttpOnly, SameSite=Strict cookie with a 12-hour Max-Age that does not hold the token', () => {
    const header = new TokenAuth(TOKEN).setCookieHeader();
    expect(COOKIE_MAX_AGE_S).toBe(43_200);
    expect(header).toMatch(/^millrace-viewer=\d+\.[0-9a-f]{64}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=43200$/);
    expect(header).not.toContain(TOKEN);
  });

  it('accepts its cookie until it expires, then answers expired', () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const auth = new TokenAuth(TOKEN, () => now);
    const cookie = valueOf(auth.setCookieHeader());
    expect(auth.check(withCookie(cookie), null)).toBe('ok');
    now += (COOKIE_MAX_AGE_S - 1) * 1000;
    expect(auth.check(withCookie(cookie), null)).toBe('ok');
    now += 1000;
    expect(auth.check(withCookie(cookie), null)).toBe('expired');
  });

  it('refuses a cookie from another server start with the same token, a forged one, and a stretched expiry', () => {
    const first = new TokenAuth(TOKEN);
    const cookie = valueOf(first.setCookieHeader());
    expect(new TokenAuth(TOKEN).check(withCookie(cookie), null)).toBe('wrong');
    const [expiry, mac] = cookie.split('.');
    expect(first.check(withCookie(`${Number(expiry) + 1_000_000}.${mac}`), null)).toBe('wrong');
    expect(first.check(withCookie('forged'), null)).toBe('wrong');
    expect(first.check(withCookie(`${expiry}.${'0'.repeat(64)}`), null)).toBe('wrong');
  });
});

describe('sameOriginPath', () => {
  it.each([
    ['/runs', '/runs'],
    ['//evil.example/x', '/evil.example/x'],
    ['/\\evil.example/x', '/evil.example/x'],
    ['/\\/\\evil.example', '/evil.example'],
    ['/\t/evil.example', '/evil.example'],
    ['http://evil.example/x', '/http://evil.example/x'],
    ['', '/'],
  ])('%j redirects to %j', (raw, want) => {
    expect(sameOriginPath(raw)).toBe(want);
  });
});
