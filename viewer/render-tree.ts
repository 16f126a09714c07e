/**
 * The store as folders, like commuter's directory view: one level of a folder (its
 * subfolders, then its objects, by name), a page at a time. Notebooks link to their
 * rendered page, other objects to their download, folders to their own listing; a run's
 * folder also links to its run page.
 */
import type { ObjectInfo } from '../record/store/index.js';
import { hrefFor, html } from './html.js';
import { page } from './page.js';

export interface TreeListing {
  /** The folder's path in the store, '' for the root. */
  path: string;
  folders: string[];
  objects: Array<ObjectInfo & { name: string }>;
  page: number;
  pageSize: number;
}

const size = (n: number) => (n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} kB` : `${(n / (1024 * 1024)).toFixed(1)} MB`);

export function renderTreePage(t: TreeListing): string {
  const total = t.folders.length + t.objects.length;
  const pages = Math.max(1, Math.ceil(total / t.pageSize));
  const from = (t.page - 1) * t.pageSize;
  const rows = [
    ...t.folders.map((name) => ({ name, folder: true as const })),
    ...t.objects.map((o) => ({ ...o, folder: false as const })),
  ].slice(from, from + t.pageSize);
  const child = (name: string) => (t.path ? `${t.path}/${name}` : name);
  const segments = t.path ? t.path.split('/') : [];
  const crumbs = html`<a href="/tree/">store</a>${segments.map((s, i) => html` / <a href="${hrefFor('/tree/', segments.slice(0, i + 1).join('/'))}/">${s}</a>`)}`;
  const isRunFolder = segments.length === 1 && segments[0] === 'runs';
  const pager = html`<div class="pager">
${t.page > 1 ? html`<a rel="prev" href="?page=${t.page - 1}">← previous</a>` : html`<span class="muted">← previous</span>`}
<span class="muted">entries ${total ? from + 1 : 0}–${Math.min(total, from + t.pageSize)} of ${total} · page ${t.page} of ${pages}</span>
${t.page < pages ? html`<a rel="next" href="?page=${t.page + 1}">next →</a>` : html`<span class="muted">next →</span>`}
</div>`;
  const body = html`<nav><a href="/runs">runs</a> · <a href="/tree/">store</a></nav>
<h1 class="crumbs">${crumbs}</h1>
${pager}
<table class="runs tree"><thead><tr><th>name</th><th>size</th><th>modified</th><th></th></tr></thead><tbody>
${rows.map((r) =>
  r.folder
    ? html`<tr class="folder"><td><a class="entry" href="${hrefFor('/tree/', child(r.name))}/">${r.name}/</a></td><td></td><td></td><td>${isRunFolder ? html`<a href="${hrefFor('/runs/', r.name)}">run page</a>` : ''}</td></tr>`
    : html`<tr class="object"><td><a class="entry" href="${r.name.endsWith('.ipynb') ? hrefFor('/view/', child(r.name)) : hrefFor('/raw/', child(r.name))}">${r.name}</a></td><td>${size(r.size)}</td><td>${r.modified.toISOString().replace(/\.\d+Z$/, 'Z')}</td><td><a href="${hrefFor('/raw/', child(r.name))}">download</a></td></tr>`,
)}
</tbody></table>
${total > t.pageSize ? pager : ''}
${total === 0 ? html`<p class="muted">this folder is empty</p>` : ''}`;
  return page(`${t.path || 'store'} · millrace`, body);
}
