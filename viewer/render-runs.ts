/** The page that lists runs, newest first, with links to older and newer pages. */
import { html, hrefFor } from './html.js';
import { page } from './page.js';
import type { RunSummary } from './runs.js';

export interface RunsPageOptions {
  page: number;
  pageSize: number;
  total: number;
}

function duration(s: number | null | undefined): string {
  if (s === null || s === undefined) return '';
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

export function renderRunsPage(runs: RunSummary[], options: RunsPageOptions): string {
  const pages = Math.max(1, Math.ceil(options.total / options.pageSize));
  const first = options.total === 0 ? 0 : (options.page - 1) * options.pageSize + 1;
  const last = Math.min(options.total, options.page * options.pageSize);
  const pager = html`<div class="pager">
${options.page > 1 ? html`<a rel="prev" href="${hrefFor('/runs', '', { page: options.page - 1 })}">← newer</a>` : html`<span class="muted">← newer</span>`}
<span class="muted">runs ${first}–${last} of ${options.total} · page ${options.page} of ${pages}</span>
${options.page < pages ? html`<a rel="next" href="${hrefFor('/runs', '', { page: options.page + 1 })}">older →</a>` : html`<span class="muted">older →</span>`}
</div>`;
  const rows = runs.map(
    (r) => html`<tr>
<td><a class="run-link" href="${hrefFor('/runs/', r.runId)}">${r.runId}</a></td>
<td>${r.notebook?.name ?? ''}</td>
<td>${r.facts ? html`<span class="badge status-${r.facts.status}">${r.facts.status}</span>` : html`<span class="muted">${r.note ?? ''}</span>`}</td>
<td>${r.facts?.schedule ?? ''}</td>
<td>${r.facts?.start_time ?? (r.time ? new Date(r.time).toISOString() : '')}</td>
<td>${duration(r.facts?.duration_s)}</td>
</tr>`,
  );
  const body = html`<h1>runs</h1>
${pager}
${runs.length ? html`<table class="runs"><thead><tr><th>run</th><th>notebook</th><th>status</th><th>schedule</th><th>started</th><th>duration</th></tr></thead><tbody>${rows}</tbody></table>` : html`<p class="muted">no runs in this store yet</p>`}
${runs.length ? pager : ''}`;
  return page('runs · millrace', body);
}
