/**
 * The page that lists runs, newest first, with links to older and newer pages, a filter
 * form (notebook, status, schedule, started since/until) and each run's parameters.
 */
import { html, hrefFor } from './html.js';
import { page } from './page.js';
import type { RunSummary } from './runs.js';

export interface RunFilters {
  notebook?: string;
  status?: string;
  schedule?: string;
  /** YYYY-MM-DD or an ISO 8601 time, as typed. */
  since?: string;
  until?: string;
}

export interface RunsPageOptions {
  page: number;
  pageSize: number;
  total: number;
  filters?: RunFilters;
}

const STATUSES = ['completed', 'failed', 'cancelled', 'running', 'paused'];

function parametersText(params: Record<string, unknown> | undefined): string {
  const text = Object.entries(params ?? {})
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');
  return text.length > 120 ? `${text.slice(0, 119)}…` : text;
}

function duration(s: number | null | undefined): string {
  if (s === null || s === undefined) return '';
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

export function renderRunsPage(runs: RunSummary[], options: RunsPageOptions): string {
  const pages = Math.max(1, Math.ceil(options.total / options.pageSize));
  const first = options.total === 0 ? 0 : (options.page - 1) * options.pageSize + 1;
  const last = Math.min(options.total, options.page * options.pageSize);
  const filters = Object.fromEntries(Object.entries(options.filters ?? {}).filter(([, v]) => v)) as Record<string, string>;
  const at = (n: number) => hrefFor('/runs', '', { ...filters, page: n });
  const pager = html`<div class="pager">
${options.page > 1 ? html`<a rel="prev" href="${at(options.page - 1)}">← newer</a>` : html`<span class="muted">← newer</span>`}
<span class="muted">runs ${first}–${last} of ${options.total}${Object.keys(filters).length ? ' matching' : ''} · page ${options.page} of ${pages}</span>
${options.page < pages ? html`<a rel="next" href="${at(options.page + 1)}">older →</a>` : html`<span class="muted">older →</span>`}
</div>`;
  const f = options.filters ?? {};
  const form = html`<form class="filters" method="get" action="/runs">
<label>notebook <input name="notebook" value="${f.notebook ?? ''}" size="16"></label>
<label>status <select name="status"><option value="">any</option>${STATUSES.map((s) => html`<option${s === f.status ? html` selected` : ''}>${s}</option>`)}</select></label>
<label>schedule <input name="schedule" value="${f.schedule ?? ''}" size="12"></label>
<label>since <input name="since" value="${f.since ?? ''}" size="11" placeholder="YYYY-MM-DD"></label>
<label>until <input name="until" value="${f.until ?? ''}" size="11" placeholder="YYYY-MM-DD"></label>
<button type="submit">filter</button>${Object.keys(filters).length ? html` <a href="/runs">clear</a>` : ''}
</form>`;
  const rows = runs.map(
    (r) => html`<tr>
<td><a class="run-link" href="${hrefFor('/runs/', r.runId)}">${r.runId}</a></td>
<td>${r.notebook?.name ?? ''}</td>
<td>${r.facts ? html`<span class="badge status-${r.facts.status}">${r.facts.status}</span>` : html`<span class="muted">${r.note ?? ''}</span>`}</td>
<td>${r.facts?.schedule ?? ''}</td>
<td>${r.facts?.start_time ?? (r.time ? new Date(r.time).toISOString() : '')}</td>
<td>${duration(r.facts?.duration_s)}</td>
<td class="params-cell"><code>${parametersText(r.facts?.parameters)}</code></td>
</tr>`,
  );
  const body = html`<nav><a href="/runs">runs</a> · <a href="/tree/">store</a></nav>
<h1>runs</h1>
${form}
${pager}
${runs.length ? html`<table class="runs"><thead><tr><th>run</th><th>notebook</th><th>status</th><th>schedule</th><th>started</th><th>duration</th><th>parameters</th></tr></thead><tbody>${rows}</tbody></table>` : html`<p class="muted">${Object.keys(filters).length ? 'no runs match these filters' : 'no runs in this store yet'}</p>`}
${runs.length ? pager : ''}`;
  return page('runs · millrace', body);
}
