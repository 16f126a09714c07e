/**
 * `v` in the run view: the run's page in the browser viewer (`millrace serve`), at the
 * selected cell. The viewer is the one at MILLRACE_VIEWER_URL, else at `millrace serve`'s
 * default address; its token, when MILLRACE_SERVE_TOKEN holds it, goes with the URL the
 * browser gets (never on screen). The browser is $BROWSER, else xdg-open (open on macOS);
 * without one, the URL is shown to copy.
 */
import { spawn, spawnSync } from 'node:child_process';
import { z } from 'zod';

/** Where `millrace serve` listens unless told otherwise (cli/commands/serve.ts). */
const SERVE_DEFAULT = 'http://127.0.0.1:8780/';
/** A viewer on this machine answers at once: longer means it is not there. */
const PROBE_MS = 1500;

const envSchema = z.object({
  MILLRACE_VIEWER_URL: z
    .string()
    .regex(/^https?:\/\/[^/\s]+/, 'MILLRACE_VIEWER_URL must be the viewer\'s URL, such as http://127.0.0.1:8780/')
    .optional(),
  MILLRACE_SERVE_TOKEN: z.string().min(1).optional(),
  BROWSER: z.string().min(1).optional(),
});

export interface ViewerLink {
  /** The page as shown: no token. */
  shown: string;
  /** The page as the browser gets it: with the token, when known. */
  opened: string;
}

/** The run's page (at cell `cell`) on the viewer at `base`. */
export function runPageLink(base: string, runId: string, cell: number | null, token?: string): ViewerLink {
  const url = new URL(`runs/${encodeURIComponent(runId)}`, base.endsWith('/') ? base : `${base}/`);
  if (cell !== null) url.hash = `cell-${cell}`;
  const shown = url.toString();
  if (token) url.searchParams.set('token', token);
  return { shown, opened: url.toString() };
}

/**
 * Opens the run's page in the browser, or says where it is. Rejects, in one line, when no
 * viewer answers (what to start) or MILLRACE_VIEWER_URL is not a URL.
 */
export async function openRunInViewer(runId: string, cell: number | null, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const parsed = envSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
  if (!parsed.success) throw new Error(parsed.error.issues[0]!.message);
  const base = parsed.data.MILLRACE_VIEWER_URL ?? SERVE_DEFAULT;
  const answered = await fetch(base, { redirect: 'manual', signal: AbortSignal.timeout(PROBE_MS) }).then(
    () => true,
    () => false,
  );
  if (!answered) throw new Error(`no viewer at ${base}: start \`millrace serve\`, or set MILLRACE_VIEWER_URL to where it runs`);
  const link = runPageLink(base, runId, cell, parsed.data.MILLRACE_SERVE_TOKEN);
  const browser = parsed.data.BROWSER ?? systemOpener();
  if (!browser) return `no browser here (set $BROWSER): open ${link.shown}`;
  // Through the shell, as $EDITOR is run; detached, so a browser that stays up does not hold the inspector.
  const child = spawn('sh', ['-c', `${browser} "$1"`, browser, link.opened], { stdio: 'ignore', detached: true });
  child.on('error', () => undefined);
  child.unref();
  return `${link.shown}: opened with ${browser}`;
}

/** The desktop's opener of URLs, if it has one on PATH. */
function systemOpener(): string | null {
  const name = process.platform === 'darwin' ? 'open' : 'xdg-open';
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0 ? name : null;
}
