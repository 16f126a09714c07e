/**
 * The viewer's page frame and style sheet. The page loads nothing else, except KaTeX's style
 * sheet (and through it KaTeX's fonts) from the viewer itself on pages with math; its only
 * script is the one that sizes HTML-output frames (frame-size.ts).
 */
import { FRAME_SCRIPT_HASH, PAGE_SCRIPT, PAGE_SCRIPT_HASH } from './frame-size.js';
import { escapeHtml } from './html.js';

// Shared by the page and the sandboxed frames of Markdown cells with raw HTML (FRAME_MARKDOWN_STYLE).
const BASE_STYLE = `a{color:#0969da;text-decoration:none}a:hover{text-decoration:underline}
code,pre{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}pre{margin:0;white-space:pre-wrap;word-break:break-word}`;
const MARKDOWN_STYLE = `.markdown h1{font-size:22px}.markdown h2{font-size:18px}.markdown h3{font-size:16px}
.markdown blockquote{border-left:3px solid #d0d7de;margin:4px 0;padding-left:10px;color:#656d76}
.markdown pre{background:#f6f8fa;padding:8px}
.markdown table{border-collapse:collapse;margin:8px 0;font-size:13px}.markdown thead{border-bottom:1px solid #000}.markdown th,.markdown td{padding:.4em .6em}
.markdown tbody tr:nth-child(odd){background:#f5f5f5}
`;
const HIGHLIGHT_STYLE = `.hljs-keyword,.hljs-built_in,.hljs-literal,.hljs-selector-tag{color:#008000;font-weight:bold}.hljs-built_in,.hljs-literal{font-weight:normal}
.hljs-string,.hljs-regexp{color:#ba2121}.hljs-subst{color:#a45a77}.hljs-comment,.hljs-quote{color:#3d7b7b;font-style:italic}
.hljs-number{color:#666}.hljs-title,.hljs-title.function_,.hljs-title.class_{color:#0000ff}.hljs-title.class_{font-weight:bold}
.hljs-meta,.hljs-doctag{color:#aa22ff}.hljs-operator{color:#aa22ff;font-weight:bold}.hljs-variable,.hljs-params{color:inherit}
.hljs-attr,.hljs-attribute,.hljs-type{color:#687822}.hljs-symbol,.hljs-bullet{color:#19177c}.hljs-section{color:#000080;font-weight:bold}
`;

const STYLE = `
body{margin:0 auto;max-width:1100px;padding:16px 24px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;background:#fff}
${BASE_STYLE}
h1{font-size:20px;margin:8px 0}
nav{margin-bottom:8px}.muted{color:#656d76}
.facts{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:8px 0}.facts dt{color:#656d76}.facts dd{margin:0}
table.params,table.runs{border-collapse:collapse;margin:8px 0}table.params caption{text-align:left;color:#656d76}
table.params th,table.params td,table.runs th,table.runs td{padding:3px 10px;border-bottom:1px solid #d0d7de;text-align:left;vertical-align:top}
.badge{display:inline-block;padding:0 7px;border-radius:10px;font-size:12px;background:#eaeef2;color:#1f2328;margin-left:6px;font-weight:normal}
.badge.status-completed{background:#dafbe1;color:#116329}.badge.status-failed{background:#ffebe9;color:#a40e26}
.badge.status-running{background:#fff8c5;color:#7d4e00}.badge.status-pending{background:#eaeef2;color:#656d76}.badge.status-cancelled{background:#eaeef2;color:#6e7781}
.cell.code.status-pending pre.source{color:#8c959f}
.cell{border-left:3px solid transparent;padding:6px 10px;margin:10px 0}
.cell.code{border-left-color:#d0d7de}.cell.code.status-failed{border-left-color:#cf222e}
.cell-head{display:flex;gap:4px;align-items:center;color:#656d76;font-size:12px}.cell-link{margin-left:auto;color:#8c959f}
.tag{font-size:11px;border:1px solid #d0d7de;border-radius:8px;padding:0 6px;margin-left:4px}
.prompt{font:12px ui-monospace,monospace;color:#0550ae;margin-right:4px}.prompt.out{color:#953800;display:block}
pre.source{background:#f6f8fa;border:1px solid #d0d7de;border-radius:4px;padding:8px;margin-top:4px}
.outputs{padding:6px 0 0 2px}.outputs>*{margin:4px 0}
pre.stderr{background:#fff1f0;padding:4px}pre.traceback{background:#fff5f5;border:1px solid #ffcecb;padding:8px;border-radius:4px}
.html-output{width:100%;border:1px solid #eaeef2;resize:vertical;background:#fff}
.image-output{max-width:100%;display:block}
.scrap{font-size:12px;color:#656d76}.unsupported{font-size:12px;color:#8c959f}
.too-large{background:#fff8c5;color:#7d4e00;padding:6px 10px;border-radius:4px}
.error-banner{margin:12px 0;padding:10px 14px;background:#ffebe9;border:1px solid #ff8182;border-radius:6px;color:#a40e26;font-size:16px}
.error-anchor{color:#a40e26;font-size:15px;margin:12px 0}
${MARKDOWN_STYLE}.pager{display:flex;gap:16px;margin:10px 0}
pre.diff .del{background:#ffebe9;display:block}pre.diff .ins{background:#dafbe1;display:block}pre.diff .same{color:#656d76;display:block}
.cell.compare{border-left-color:#d0d7de}.cell.compare.added{border-left-color:#1a7f37}.cell.compare.removed{border-left-color:#cf222e}.diff-part{margin:4px 0}
.filters{display:flex;flex-wrap:wrap;gap:10px;align-items:center;margin:8px 0;font-size:13px}.params-cell code{font-size:12px;color:#656d76}
.ansi-black-fg{color:#3e424d}.ansi-red-fg{color:#e75c58}.ansi-green-fg{color:#00a250}.ansi-yellow-fg{color:#b08800}
.ansi-blue-fg{color:#208ffb}.ansi-magenta-fg{color:#d160c4}.ansi-cyan-fg{color:#60c6c8}.ansi-white-fg{color:#6e7781}
.ansi-bright-black-fg{color:#6e7781}.ansi-bright-red-fg{color:#b22b31}.ansi-bright-green-fg{color:#007427}.ansi-bright-yellow-fg{color:#b27d12}
.ansi-bright-blue-fg{color:#0065ca}.ansi-bright-magenta-fg{color:#a03196}.ansi-bright-cyan-fg{color:#258f8f}.ansi-bright-white-fg{color:#a1a6b2}
.ansi-black-bg{background:#3e424d}.ansi-red-bg{background:#e75c58}.ansi-green-bg{background:#00a250}.ansi-yellow-bg{background:#ddb62b}.ansi-blue-bg{background:#208ffb}
.ansi-magenta-bg{background:#d160c4}.ansi-cyan-bg{background:#60c6c8}.ansi-white-bg{background:#c5c1b4}
.ansi-bold{font-weight:bold}.ansi-underline{text-decoration:underline}.ansi-italic{font-style:italic}.ansi-dim{opacity:.7}
.long-output>summary{cursor:pointer;color:#656d76;font-size:12px}.long-output>pre{max-height:36em;overflow:auto}
.badge.status-paused{background:#ddf4ff;color:#0550ae}
.md-image{max-width:100%}.katex-display{overflow-x:auto;overflow-y:hidden}
.markdown-html{display:block;width:100%;border:none;background:#fff}
.json-tree{font:12.5px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}.json-tree details>:not(summary){margin-left:1.6em}.json-tree summary{cursor:pointer}
.json-key{color:#0550ae}.json-string{color:#ba2121}.json-number{color:#116329}.json-boolean,.json-null{color:#8250df}.json-count{color:#8c959f}
${HIGHLIGHT_STYLE}`;

/** The style of a Markdown cell's sandboxed frame: the page's body text, Markdown and highlighting. */
export const FRAME_MARKDOWN_STYLE = `body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328}
${BASE_STYLE}
${MARKDOWN_STYLE}${HIGHLIGHT_STYLE}.md-image{max-width:100%}.katex-display{overflow-x:auto;overflow-y:hidden}math[display=block]{margin:1em 0}`;

/** The CSP of a downloaded page: the viewer's, with the fonts inlined as data: URIs. */
const STANDALONE_CSP = `default-src 'none'; script-src ${PAGE_SCRIPT_HASH} ${FRAME_SCRIPT_HASH}; style-src 'unsafe-inline'; font-src data:; img-src data:; base-uri 'none'`;

/** Where the viewer serves KaTeX's style sheet; its fonts are beside it, under fonts/. */
export const KATEX_CSS_HREF = '/static/katex/katex.min.css';

/**
 * `frames`: the page has HTML-output frames, sized by frame-size.ts's one script.
 * `standalone`: the page is a file on its own (a download): KaTeX's CSS is inlined, and the
 * viewer's CSP comes with it in a meta tag, since no server sends it a header.
 */
export function page(title: string, body: { toString(): string }, options: { math?: boolean; frames?: boolean; standalone?: { katexCss: string } } = {}): string {
  const katex = !options.math ? '' : options.standalone ? `<style>${options.standalone.katexCss}</style>` : `<link rel="stylesheet" href="${KATEX_CSS_HREF}">`;
  const csp = options.standalone ? `<meta http-equiv="Content-Security-Policy" content="${escapeHtml(STANDALONE_CSP)}">` : '';
  const script = options.frames ? `<script>${PAGE_SCRIPT}</script>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">${csp}<title>${escapeHtml(title)}</title>${katex}<style>${STYLE}</style>${script}</head>
<body>${body.toString()}</body></html>
`;
}
