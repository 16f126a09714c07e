/**
 * Run notifications (`--notify-on` / `--notify-webhook`). A webhook URL is a secret (a
 * Slack incoming-webhook URL is its own credential), so it is sealed with AES-256-GCM
 * under a key that clients and workers share, and only the ciphertext travels through
 * schedules and workflow history. The key is `MILLRACE_SECRET_KEY` (32 bytes, base64 or
 * hex), else `<state dir>/secret.key`, created with mode 0600 on first use. The state
 * directory comes from the caller (the CLI's configuration, the worker's).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NotifyInput, RunNotification, SealedSecret } from '../workflows/contracts.js';

const KEY_ENV = 'MILLRACE_SECRET_KEY';

export class SecretKeyError extends Error {}

export interface SecretKey {
  key: Buffer;
  id: string;
  /** Where it came from, for messages (never the key itself). */
  origin: string;
}

function parseKey(text: string, origin: string): SecretKey {
  const trimmed = text.trim();
  const key = /^[0-9a-f]{64}$/i.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== 32) throw new SecretKeyError(`${origin}: the secret key must be 32 bytes, base64 or hex`);
  return { key, id: createHash('sha256').update(key).digest('hex').slice(0, 12), origin };
}

export function keyFilePath(dir: string): string {
  return join(dir, 'secret.key');
}

/** The key of this process: MILLRACE_SECRET_KEY, else the state directory's key file (created when `create`). */
export function loadSecretKey(options: { create: boolean; dir: string }): SecretKey | undefined {
  const fromEnv = process.env[KEY_ENV];
  if (fromEnv) return parseKey(fromEnv, KEY_ENV);
  const file = keyFilePath(options.dir);
  try {
    return parseKey(readFileSync(file, 'utf8'), file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (!options.create) return undefined;
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // Another process created it first: use theirs.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return parseKey(readFileSync(file, 'utf8'), file);
}

export function seal(secret: string, key: SecretKey): SealedSecret {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.key, iv);
  const data = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return { alg: 'aes-256-gcm', keyId: key.id, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
}

export function unseal(sealed: SealedSecret, key: SecretKey): string {
  if (sealed.keyId !== key.id) {
    throw new SecretKeyError(`the webhook was sealed with key ${sealed.keyId}; this worker's key (${key.origin}) is ${key.id}`);
  }
  const decipher = createDecipheriv('aes-256-gcm', key.key, Buffer.from(sealed.iv, 'base64'));
  decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
  return Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]).toString('utf8');
}

/** One line a Slack incoming webhook shows as the message. */
export function notificationText(n: RunNotification): string {
  const what = `millrace run ${n.run_id} (${n.notebook})`;
  if (n.status === 'completed') return `${what} completed. Output: ${n.output}`;
  if (n.status === 'cancelled') return `${what} was cancelled. Output: ${n.output}`;
  const where = n.failed_cell === null ? '' : ` at cell ${n.failed_cell}`;
  const error = n.error ? `: ${n.error.ename}: ${n.error.evalue.split('\n')[0]!.slice(0, 300)}` : '';
  return `${what} failed${where}${error}. Output: ${n.output}`;
}

/** Statuses worth another attempt; any other 4xx means the request itself is wrong. */
function retryable(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/**
 * The URL fetch is given, and the Authorization header its credentials become: fetch
 * refuses a URL with `user:pass@` in it, and a hook behind HTTP Basic authentication
 * takes them as a header. They were sealed with the URL, and stay out of every message.
 */
export function webhookRequest(text: string): { url: string; headers: Record<string, string> } {
  const url = new URL(text);
  if (!url.username && !url.password) return { url: text, headers: {} };
  const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  url.username = '';
  url.password = '';
  return { url: url.toString(), headers: { authorization: `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}` } };
}

/**
 * POSTs the notification. Temporal's activity retry policy makes the attempts; errors name
 * the HTTP status or the network error code, never the URL (they end up in history), and
 * carry the attempt (details[0].attempt) for the run's "notification failed" line.
 */
export async function notifyWebhook(stateDir: string, input: NotifyInput): Promise<{ status: number }> {
  let url: string;
  try {
    const key = loadSecretKey({ create: false, dir: stateDir });
    if (!key) throw new SecretKeyError(`no ${KEY_ENV} and no ${keyFilePath(stateDir)} on this worker`);
    url = unseal(input.webhook, key);
  } catch (err) {
    const reason = err instanceof SecretKeyError ? err.message : 'the sealed webhook URL does not open with this key';
    throw ApplicationFailure.nonRetryable(`cannot open the webhook URL: ${reason}`, 'WebhookKey', attemptDetail());
  }
  const request = webhookRequest(url);
  const body = JSON.stringify({ ...input.notification, text: notificationText(input.notification) });
  let response: Response;
  try {
    response = await fetch(request.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...request.headers },
      body,
      redirect: 'error',
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: unknown } }).cause;
    const code = typeof cause?.code === 'string' ? cause.code : (err as Error).name;
    throw ApplicationFailure.retryable(`webhook unreachable (${code})`, 'WebhookUnreachable', attemptDetail());
  }
  await response.arrayBuffer().catch(() => undefined);
  if (response.ok) return { status: response.status };
  const message = `webhook answered HTTP ${response.status}`;
  throw retryable(response.status)
    ? ApplicationFailure.retryable(message, 'WebhookError', attemptDetail())
    : ApplicationFailure.nonRetryable(message, 'WebhookRejected', attemptDetail());
}

function attemptDetail(): { attempt: number } {
  return { attempt: Context.current().info.attempt };
}
