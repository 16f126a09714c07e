/**
 * The few files the viewer serves from its own installation: KaTeX's style sheet and fonts,
 * which pages with math load (the page CSP allows styles and fonts from 'self' for them).
 * Only names on the list below are served, read from the katex package's dist folder.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';

// katex's package exports its CommonJS build as `katex`; the CSS and fonts are beside it.
const KATEX_DIST = dirname(createRequire(import.meta.url).resolve('katex'));
const TYPES: Record<string, string> = { css: 'text/css; charset=utf-8', woff2: 'font/woff2', woff: 'font/woff', ttf: 'font/ttf' };

/** `/static/<rest>` → its bytes and type, or undefined if it is not one of KaTeX's files. */
export async function staticFile(rest: string): Promise<{ body: Buffer; type: string } | undefined> {
  const m = /^katex\/(katex\.min\.css|fonts\/KaTeX_[A-Za-z0-9_-]+\.(woff2|woff|ttf))$/.exec(rest);
  if (!m) return undefined;
  const ext = m[2] ?? 'css';
  return { body: await readFile(join(KATEX_DIST, m[1]!)), type: TYPES[ext]! };
}

/** KaTeX's style sheet with its fonts inlined as data: URIs (woff2 only), for standalone HTML. */
export async function katexCssInline(): Promise<string> {
  const css = await readFile(join(KATEX_DIST, 'katex.min.css'), 'utf8');
  const fonts = new Map<string, string>();
  for (const m of css.matchAll(/url\(fonts\/(KaTeX_[A-Za-z0-9_-]+\.woff2)\)/g)) {
    if (!fonts.has(m[1]!)) fonts.set(m[1]!, (await readFile(join(KATEX_DIST, 'fonts', m[1]!))).toString('base64'));
  }
  // Each @font-face lists woff2, woff and ttf; keep woff2 only, inlined.
  return css.replace(/src:url\(fonts\/(KaTeX_[A-Za-z0-9_-]+)\.woff2\) format\("woff2"\)(?:,url\([^)]*\) format\("[a-z]+"\))*/g, (_all, name: string) => `src:url(data:font/woff2;base64,${fonts.get(`${name}.woff2`)}) format("woff2")`);
}
