/**
 * `application/json` outputs as a tree, as JupyterLab shows them: each object and array is
 * a `<details>` element, open at first, that a click on its key folds. Built on the server,
 * so the page needs no script for it.
 *
 * Hand-written, and why: the JSON viewers we know (JupyterLab's, react-json-view) render in
 * the browser with script, which the viewer's pages do not run; a tree of `<details>` is a
 * few lines. Bounded: a value of more than JSON_TREE_NODES nodes, or nested deeper than
 * JSON_TREE_DEPTH, is not a tree (the caller shows it as text).
 */
import { escapeHtml } from './html.js';

export const JSON_TREE_NODES = 2_000;
export const JSON_TREE_DEPTH = 50;

const TOO_BIG = Symbol('too big');

/** The tree's HTML, or undefined when the value is over the limits. */
export function jsonTree(value: unknown): string | undefined {
  let nodes = 0;
  const walk = (v: unknown, key: string | null, depth: number): string => {
    if (++nodes > JSON_TREE_NODES || depth > JSON_TREE_DEPTH) throw TOO_BIG;
    const label = key === null ? '' : `<span class="json-key">${escapeHtml(key)}</span>: `;
    if (v !== null && typeof v === 'object') {
      const isArray = Array.isArray(v);
      const entries: Array<[string, unknown]> = isArray ? v.map((x, i): [string, unknown] => [String(i), x]) : Object.entries(v);
      if (entries.length === 0) return `<div class="json-leaf">${label}${isArray ? '[]' : '{}'}</div>`;
      const count = isArray ? `[…] ${entries.length} item${entries.length === 1 ? '' : 's'}` : `{…} ${entries.length} key${entries.length === 1 ? '' : 's'}`;
      return `<details class="json-node" open><summary>${label}<span class="json-count">${count}</span></summary>${entries.map(([k, x]) => walk(x, k, depth + 1)).join('')}</details>`;
    }
    const type = v === null ? 'null' : typeof v;
    return `<div class="json-leaf">${label}<span class="json-${type}">${escapeHtml(JSON.stringify(v) ?? '')}</span></div>`;
  };
  try {
    return `<div class="json-tree">${walk(value, null, 0)}</div>`;
  } catch (err) {
    if (err === TOO_BIG) return undefined;
    throw err;
  }
}
