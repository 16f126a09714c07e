// The viewer's Markdown (markdown-it, raw HTML off, links narrowed) and its per-cell and
// per-page limits. The time bound on hostile input is tested end to end (viewer-limits).
import { describe, expect, it } from 'vitest';
import { parseNotebook } from '../../notebook/nbformat.js';
import { MARKDOWN_CELL_LIMIT, MarkdownBudget, renderMarkdown, renderMarkdownCell } from '../../viewer/markdown.js';
import { MATH_PAGE_LIMIT } from '../../viewer/math.js';
import { renderNotebookPage } from '../../viewer/render-notebook.js';

describe('renderMarkdown', () => {
  it('renders headings, emphasis, code, lists, quotes, rules and tables', () => {
    const out = renderMarkdown(
      '# T\n\n## Sub\n\n**b** *i* __u__ _e_ `<c>`\n\n- one\n- two\n\n1. first\n2. second\n\n> quoted\n\n---\n\n```\nx < 1 *not em*\n```\n\n    indented\n\n| a | b |\n|---|---|\n| 1 | *2* |\n',
    );
    expect(out).toContain('<h1>T</h1>');
    expect(out).toContain('<h2>Sub</h2>');
    expect(out).toContain('<strong>b</strong> <em>i</em> <strong>u</strong> <em>e</em> <code>&lt;c&gt;</code>');
    expect(out).toMatch(/<ul>\s*<li>one<\/li>\s*<li>two<\/li>\s*<\/ul>/);
    expect(out).toMatch(/<ol>\s*<li>first<\/li>\s*<li>second<\/li>\s*<\/ol>/);
    expect(out).toMatch(/<blockquote>\s*<p>quoted<\/p>\s*<\/blockquote>/);
    expect(out).toContain('<hr>');
    expect(out).toContain('<pre><code>x &lt; 1 *not em*\n</code></pre>');
    expect(out).toContain('<pre><code>indented\n</code></pre>');
    expect(out).toMatch(/<table>[\s\S]*<th>a<\/th>[\s\S]*<td><em>2<\/em><\/td>[\s\S]*<\/table>/);
  });

  it('shows raw HTML as text and links only http(s) URLs and in-page anchors', () => {
    const out = renderMarkdown(
      '# T <i>\n\n[ok](https://x.org/?a=1&b=2) [cell](#cell-3) [bad](javascript:alert(1)) [rel](other.ipynb) [data](data:text/html,<b>) <script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n![alt <b>](https://x.org/i.png)',
    );
    expect(out).toContain('<h1>T &lt;i&gt;</h1>');
    expect(out).toContain('<a href="https://x.org/?a=1&amp;b=2" rel="noopener noreferrer nofollow" target="_blank">ok</a>');
    expect(out).toContain('<a href="#cell-3">cell</a>');
    expect(out).toContain('[bad](javascript:alert(1))');
    expect(out).toContain(' rel ');
    expect(out).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(out).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(out).toContain('alt &lt;b&gt;');
    expect(out).not.toMatch(/<script|<img|<b>|<i>|href="(?:javascript|data|other)/);
  });

  it('never turns emphasis markup inside a link URL into <em> (issue 14, item 12)', () => {
    const out = renderMarkdown('[x](https://example.org/a_b_c/*d*/__e__) and [y](https://example.org/?q=*1*&r=_2_)');
    expect(out).toContain('href="https://example.org/a_b_c/*d*/__e__"');
    expect(out).toContain('href="https://example.org/?q=*1*&amp;r=_2_"');
    expect(out).not.toMatch(/<em>|<strong>/);
  });

  it('renders the input that froze the old regexes, as text', () => {
    const out = renderMarkdown(`${'['.repeat(20_000)}a](`);
    expect(out).toBe(`<p>${'['.repeat(20_000)}a](</p>\n`);
  });
});

describe('MarkdownBudget', () => {
  it('renders up to the cell limit, and notes what is over it', async () => {
    const budget = new MarkdownBudget();
    expect(await budget.render('*ok*')).toEqual({ html: '<p><em>ok</em></p>\n' });
    expect(await budget.render('x'.repeat(MARKDOWN_CELL_LIMIT))).toHaveProperty('html');
    expect(await budget.render('x'.repeat(150_003))).toEqual({ tooLarge: '151 kB of Markdown; the limit is 100 kB a cell' });
  });

  it('stops rendering once a page has used its budget', async () => {
    const budget = new MarkdownBudget(10, 25);
    expect(await budget.render('a'.repeat(10))).toHaveProperty('html');
    expect(await budget.render('b'.repeat(10))).toHaveProperty('html');
    expect(await budget.render('c'.repeat(10))).toEqual({ tooLarge: 'this page has already rendered as much Markdown as one page may' });
    expect(await budget.render('d'.repeat(5))).toHaveProperty('html');
  });

  it('gives a page a "too large" note linking to the download in place of an oversized cell or output', async () => {
    const big = `${'['.repeat(150_000)}a](`;
    const nb = parseNotebook(
      JSON.stringify({
        nbformat: 4,
        nbformat_minor: 5,
        metadata: {},
        cells: [
          { id: 'a', cell_type: 'markdown', source: big, metadata: {} },
          { id: 'b', cell_type: 'markdown', source: '**small**', metadata: {} },
          { id: 'c', cell_type: 'code', source: '', metadata: {}, execution_count: 1, outputs: [{ output_type: 'display_data', metadata: {}, data: { 'text/markdown': big, 'text/plain': 'x' } }] },
        ],
      }),
      'x.ipynb',
    );
    const page = await renderNotebookPage(nb, { path: 'runs/r/x.ipynb', contentsHref: '/c', rawHref: '/raw/runs/r/x.ipynb', exportHref: '/export/runs/r/x.ipynb' });
    const notes = page.match(/<p class="too-large">Too large to render here \(151 kB of Markdown; the limit is 100 kB a cell\) — <a href="\/raw\/runs\/r\/x.ipynb">download the notebook<\/a>.<\/p>/g);
    expect(notes).toHaveLength(2);
    expect(page).toContain('<strong>small</strong>');
    expect(page).not.toContain('[[[[');
  });
});

describe('math, images and attachments in Markdown', () => {
  it('typesets $…$, \\(…\\), $$…$$ and \\[…\\] with KaTeX, leaves code spans and \\$ alone, and never links', () => {
    const out = renderMarkdown('a $x^2$ b \\(y\\) c \\$5 `$z$`\n\n$$\\frac12$$ \\[w\\] $\\href{javascript:alert(1)}{k}$ $\\bad{$');
    expect(out.match(/<span class="katex">/g)).toHaveLength(5);
    expect(out.match(/class="katex-display"/g)).toHaveLength(2);
    expect(out).toContain('<code>$z$</code>');
    expect(out).toContain(' c $5 ');
    expect(out).toContain('class="katex-error"');
    expect(out).not.toMatch(/href=|<script/);
  });

  it('typesets at most MATH_PAGE_LIMIT formulas a page, then shows TeX source', async () => {
    const budget = new MarkdownBudget();
    const first = await budget.render('$a$ '.repeat(MATH_PAGE_LIMIT - 1));
    expect('html' in first && first.html.match(/class="katex"/g)).toHaveLength(MATH_PAGE_LIMIT - 1);
    const second = await budget.render('$b$ and $c<d$');
    expect(second).toHaveProperty('html');
    expect('html' in second && second.html).toMatch(/class="katex".*and <code class="math-source">c&lt;d<\/code>/s);
  });

  it('reads unclosed delimiters as text', () => {
    expect(renderMarkdown('\\( a \\( b $ c \\begin{x} d')).toBe('<p>( a ( b $ c \\begin{x} d</p>\n');
  });

  it('shows attachment: and data: images from the page, and links to remote ones', () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>';
    const out = renderMarkdown('![a](attachment:a.png) ![s](attachment:s.svg) ![gone](attachment:none.png) ![d](data:image/png;base64,AAAA) ![r <b>](https://x.org/i.png) ![h](data:text/html;base64,PGI+)', {
      attachments: { 'a.png': { 'image/png': 'iVBO\nRw==' }, 's.svg': { 'image/svg+xml': svg } },
    });
    expect(out).toContain('<img class="md-image" src="data:image/png;base64,iVBORw==" alt="a">');
    expect(out).toContain(`<img class="md-image" src="data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}" alt="s">`);
    expect(out).toContain('<img class="md-image" src="data:image/png;base64,AAAA" alt="d">');
    expect(out).toContain('<a class="md-image-link" href="https://x.org/i.png" rel="noopener noreferrer nofollow" target="_blank">r &lt;b&gt;</a>');
    expect(out).toContain(' gone ');
    expect(out).not.toContain('src="data:text/html');
  });
});

describe('raw HTML in Markdown: rendered only for a sandboxed frame', () => {
  it('renders a cell without raw HTML for the page, as renderMarkdown does', () => {
    const source = '# T\n\n**b** $x^2$ [l](https://x.org) <https://auto.link> a < b > c\n\n| a |\n|---|\n| 1 |\n';
    expect(renderMarkdownCell(source)).toEqual({ html: renderMarkdown(source) });
  });

  it('renders a cell with inline HTML, an HTML block or a comment whole, HTML included, to be framed', () => {
    for (const source of ['a <b>bold</b> **md**', '<div class="note">\n\n**md** inside\n\n</div>', 'text\n\n<!-- hidden -->', '<script>alert(1)</script>']) {
      const out = renderMarkdownCell(source);
      expect(out, source).toHaveProperty('framed');
      expect(out, source).not.toHaveProperty('html');
    }
    const out = renderMarkdownCell('# Title\n\na <b style="color:red">bold</b> word and **md**, $x^2$\n\n<table><tr><td>1</td></tr></table>\n\n[bad](javascript:alert(1))') as { framed: string };
    expect(out.framed).toContain('<h1>Title</h1>');
    expect(out.framed).toContain('<b style="color:red">bold</b>');
    expect(out.framed).toContain('<strong>md</strong>');
    expect(out.framed).toContain('<table><tr><td>1</td></tr></table>');
    // Math is MathML alone: the frame loads no KaTeX style sheet.
    expect(out.framed).toContain('<math');
    expect(out.framed).not.toContain('katex-html');
    // Markdown links are still narrowed.
    expect(out.framed).not.toContain('href="javascript');
  });

  it('counts framed cells against the page\'s budgets', async () => {
    const budget = new MarkdownBudget(100, 30);
    expect(await budget.render('<b>x</b> '.repeat(3))).toHaveProperty('framed');
    expect(await budget.render('<b>y</b>'.repeat(2))).toEqual({ tooLarge: 'this page has already rendered as much Markdown as one page may' });
    expect(await budget.render(`<i>${'z'.repeat(100)}</i>`)).toEqual({ tooLarge: '1 kB of Markdown; the limit is 1 kB a cell' });
  });
});

