/** A run record as millrace writes it, for the status and header tests. */
export function runRecord(runId: string, millrace: Record<string, unknown>, cells: Array<{ status: string; source: string }>, papermill: Record<string, unknown> = {}) {
  return {
    ...nb(cells.map((c, i) => ({ ...code(c.source, c.status === 'failed' ? [{ output_type: 'error', ename: 'ValueError', evalue: 'x', traceback: ['ValueError: x'] }] : [], i + 1), metadata: { papermill: { status: c.status, duration: c.status === 'pending' ? null : 0.5 } } }))),
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' },
      language_info: { name: 'python' },
      papermill: { parameters: {}, start_time: '2026-12-01T10:00:00.000000', end_time: null, duration: null, exception: null, ...papermill },
      millrace: { run_id: runId, revision: 3, ...millrace },
    },
  };
}

/**
 * The reference notebooks for the viewer's rendering and fidelity tests, as executed
 * notebooks with static outputs (the project's venv has no matplotlib, so plots are PNG and
 * SVG data made here): Markdown with a table, math, a data: image and an attachment; code
 * with highlighting; streams with ANSI colours and tqdm-style `\r` progress; a DataFrame's
 * HTML; PNG and SVG images; JSON; an error with a coloured traceback.
 */
import { deflateSync } from 'node:zlib';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes: Buffer): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A PNG of `w`×`h` pixels: `pixel(x, y)` gives [r, g, b]. */
export function png(w: number, h: number, pixel: (x: number, y: number) => [number, number, number]): Buffer {
  const rows: Buffer[] = [];
  for (let y = 0; y < h; y++) {
    const row = Buffer.alloc(1 + 3 * w);
    for (let x = 0; x < w; x++) row.set(pixel(x, y), 1 + 3 * x);
    rows.push(row);
  }
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.concat(rows))), chunk('IEND', Buffer.alloc(0))]);
}

// A bar chart as matplotlib would draw it, as PNG and as SVG.
const BARS = [3, 7, 5, 9, 4];
const chartPng = png(240, 160, (x, y) => {
  const bar = Math.floor((x - 20) / 44);
  const inBar = x >= 20 && bar < BARS.length && (x - 20) % 44 < 30 && 150 - y < BARS[bar]! * 15;
  return inBar ? [31, 119, 180] : y === 150 || x === 19 ? [0, 0, 0] : [255, 255, 255];
}).toString('base64');
const chartSvg =
  '<svg xmlns="http://www.w3.org/2000/svg" width="240" height="160" viewBox="0 0 240 160"><rect width="240" height="160" fill="#fff"/>' +
  BARS.map((v, i) => `<rect x="${20 + i * 44}" y="${150 - v * 15}" width="30" height="${v * 15}" fill="#ff7f0e"/>`).join('') +
  '<line x1="19" y1="150" x2="230" y2="150" stroke="#000"/><text x="120" y="14" font-size="12" text-anchor="middle" font-family="sans-serif">visits per city</text></svg>';
// A line chart (plotly's PNG fallback) and a horizontal bar chart (vega-lite's), as the
// libraries' image exports would draw them.
const POINTS = [12, 30, 22, 41, 35, 50];
const linePng = png(300, 180, (x, y) => {
  const i = Math.min(POINTS.length - 2, Math.floor((x - 20) / 52));
  const t = (x - 20 - i * 52) / 52;
  const v = 170 - 3 * (POINTS[i]! + (POINTS[i + 1]! - POINTS[i]!) * t);
  if (x >= 20 && x < 280 && Math.abs(y - v) < 2) return [99, 110, 250];
  return y === 170 || x === 19 ? [42, 63, 95] : (y - 10) % 40 === 0 ? [229, 236, 246] : [255, 255, 255];
}).toString('base64');
const hbarPng = png(260, 120, (x, y) => {
  const bar = Math.floor((y - 10) / 22);
  const inBar = y >= 10 && bar < BARS.length && (y - 10) % 22 < 16 && x >= 40 && x - 40 < BARS[bar]! * 22;
  return inBar ? [76, 120, 168] : x === 39 ? [136, 136, 136] : [255, 255, 255];
}).toString('base64');
const CITIES = ['Paris', 'Lyon', 'Nice', 'Lille', 'Nantes'];
const VEGA_LITE_SPEC = {
  $schema: 'https://vega.github.io/schema/vega-lite/v5.20.1.json',
  config: { view: { continuousWidth: 300, continuousHeight: 300 } },
  data: { name: 'data-1b2c3d' },
  datasets: { 'data-1b2c3d': CITIES.map((city, i) => ({ city, visits: BARS[i] })) },
  encoding: { x: { field: 'visits', type: 'quantitative' }, y: { field: 'city', type: 'nominal' } },
  mark: { type: 'bar' },
};
export const SMALL_PNG = png(16, 16, (x, y) => ((x + y) % 2 ? [46, 160, 67] : [255, 255, 255])).toString('base64');

let n = 0;
const id = () => `ref${++n}`;
const md = (source: string, attachments?: Record<string, Record<string, string>>) => ({ cell_type: 'markdown', id: id(), metadata: {}, source, ...(attachments ? { attachments } : {}) });
const code = (source: string, outputs: unknown[], count: number) => ({ cell_type: 'code', id: id(), metadata: {}, execution_count: count, source, outputs });
const stream = (name: 'stdout' | 'stderr', text: string) => ({ output_type: 'stream', name, text });
const display = (data: Record<string, unknown>, metadata: Record<string, unknown> = {}) => ({ output_type: 'display_data', data, metadata });
const result = (count: number, data: Record<string, unknown>) => ({ output_type: 'execute_result', execution_count: count, data, metadata: {} });

const nb = (cells: unknown[]) => ({
  nbformat: 4,
  nbformat_minor: 5,
  metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' }, language_info: { name: 'python', version: '3.11' } },
  cells,
});

/** tqdm's output: one stream message per update, each starting with `\r`. */
export const TQDM_FINAL = '100%|██████████| 50/50 [00:01<00:00, 49.80it/s]';
const tqdmUpdates = [0, 10, 20, 30, 40, 50].map((k) => `\r${String(k * 2).padStart(3)}%|${'█'.repeat(k / 5).padEnd(10)}| ${k}/50 [00:0${k === 50 ? 1 : 0}<00:00, 49.80it/s]`);

export const DATAFRAME_HTML =
  '<div>\n<table border="1" class="dataframe">\n  <thead>\n    <tr style="text-align: right;">\n      <th></th>\n      <th>city</th>\n      <th>visits</th>\n    </tr>\n  </thead>\n  <tbody>\n' +
  ['Paris', 'Lyon', 'Nice', 'Lille', 'Nantes', 'Rennes', 'Dijon', 'Metz']
    .map((c, i) => `    <tr>\n      <th>${i}</th>\n      <td>${c}</td>\n      <td>${(i + 1) * 10}</td>\n    </tr>\n`)
    .join('') +
  '  </tbody>\n</table>\n</div>';

/** Markdown with raw HTML, as notebooks use it: a styled note, inline tags, an HTML table. */
export const HTML_MARKDOWN =
  '<div style="border:1px solid #0969da;border-radius:4px;padding:4px 10px">\n\n**Note:** raw HTML in Markdown, with <i>inline</i> tags and a line<br>break.\n\n</div>\n\n' +
  'A <span style="color:#cf222e">coloured</span> word.\n\n<table><tr><th>key</th><th>value</th></tr><tr><td>a</td><td>1</td></tr><tr><td>b</td><td>2</td></tr></table>\n';

/**
 * Script in a Markdown cell, everywhere it could hide: none of it may run, and what runs in
 * the cell's frame could not reach the page (its origin is opaque).
 */
export const HOSTILE_MARKDOWN =
  '# Hostile <b id="evil">markdown</b>\n\n' +
  '<script>parent.postMessage(99999, "*"); top.document.title = "pwned"; document.body.dataset.ran = "script"; alert(document.cookie)</script>\n\n' +
  '<img src="x" onerror="parent.postMessage(5, \'*\'); document.body.dataset.ran = \'onerror\'">\n\n' +
  '<a id="nav" href="javascript:top.document.title=\'pwned\'">a javascript: link</a> and <a id="top" href="/raw/reference/markdown.ipynb" target="_top">a link to the page\'s top</a>\n\n' +
  'Math in a frame: $e^{i\\pi} + 1 = 0$\n';

export const REFERENCE_NOTEBOOKS: Record<string, ReturnType<typeof nb>> = {
  'markdown.ipynb': nb([
    md('# Markdown reference\n\nText with **bold**, *italic*, `code` and a [link](https://jupyter.org).\n\n| city | visits | share |\n|:-----|-------:|:-----:|\n| Paris | 10 | 0.25 |\n| Lyon | 20 | 0.50 |\n'),
    md('Inline math $e^{i\\pi} + 1 = 0$ and a display:\n\n$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$\n\nand \\(\\alpha_1 + \\beta^2\\).'),
    md(`An inline image ![checker](data:image/png;base64,${SMALL_PNG}) and an attachment:\n\n![chart](attachment:chart.png)`, { 'chart.png': { 'image/png': chartPng } }),
    md('## Lists\n\n1. one\n2. two\n   - nested\n\n> a quote\n\n```python\ndef f(x):\n    return x\n```'),
    md(HTML_MARKDOWN),
  ]),
  'code.ipynb': nb([
    code('import math\n\ndef area(r: float) -> float:\n    """Area of a circle."""\n    return math.pi * r ** 2  # πr²\n\nprint(f"{area(2):.2f}", True, None)', [stream('stdout', '12.57 True None\n')], 1),
    code('%%sql\nSELECT city, count(*) AS n FROM visits WHERE n > 3 GROUP BY city', [], 2),
    code('x = [1, 2, 3]\nx', [result(3, { 'text/plain': '[1, 2, 3]' })], 3),
  ]),
  // An R notebook (IRkernel's metadata): highlighted as R, by the notebook's language.
  'code-r.ipynb': {
    ...nb([
      code('# mean visits per city\nvisits <- c(Paris = 10, Lyon = 20)\nshare <- function(x) {\n  x / sum(x)\n}\nprint(share(visits), digits = 2)', [stream('stdout', 'Paris  Lyon \n 0.33  0.67 \n')], 1),
      code('if (TRUE) cat("done\\n")', [stream('stdout', 'done\n')], 2),
    ]),
    metadata: { kernelspec: { name: 'ir', display_name: 'R', language: 'R' }, language_info: { name: 'R', version: '4.3.1' } },
  },
  'streams.ipynb': nb([
    code(
      'import logging, sys\nprint("\\x1b[1;32mOK\\x1b[0m plain \\x1b[38;5;208morange\\x1b[0m \\x1b[38;2;10;20;200mtruecolour\\x1b[0m")',
      [stream('stdout', 'plain \x1b[1;32mOK\x1b[0m and \x1b[31mred\x1b[0m, \x1b[38;5;208morange\x1b[0m, \x1b[38;2;10;20;200mtruecolour\x1b[0m, \x1b[44;97mon blue\x1b[0m\n')],
      1,
    ),
    code('from tqdm import tqdm\nfor _ in tqdm(range(50)):\n    work()', [...tqdmUpdates.map((t) => stream('stderr', t)), stream('stderr', '\n')], 2),
    code('print("abc\\b\\bX")\nprint("12345\\r67")', [stream('stdout', 'abc\b\bX\n'), stream('stdout', '12345\r67\n')], 3),
  ]),
  'outputs.ipynb': nb([
    code('import pandas as pd\ndf = pd.DataFrame({"city": cities, "visits": visits})\ndf', [result(1, { 'text/html': DATAFRAME_HTML, 'text/plain': '     city  visits\n0   Paris      10' })], 1),
    code('fig.savefig(buf, format="png"); display(Image(buf.getvalue()))', [display({ 'image/png': chartPng, 'text/plain': '<Figure size 240x160 with 1 Axes>' })], 2),
    code('display(SVG(fig_svg))', [display({ 'image/svg+xml': chartSvg, 'text/plain': '<IPython.core.display.SVG object>' })], 3),
    code('from IPython.display import JSON\n{"a": [1, 2], "b": {"c": None}}', [result(4, { 'application/json': { a: [1, 2], b: { c: null } }, 'text/plain': "{'a': [1, 2], 'b': {'c': None}}" })], 4),
  ]),
  'layout.ipynb': nb([
    code('df', [result(1, { 'text/html': DATAFRAME_HTML, 'text/plain': 'df' })], 1),
    code('display(HTML(tall))', [display({ 'text/html': Array.from({ length: 40 }, (_, i) => `<p>paragraph ${i}</p>`).join(''), 'text/plain': 'tall' })], 2),
    code('display(HTML(hostile))', [
      display({
        'text/html': '<b id="evil">inert</b><script>parent.postMessage(99999, "*"); document.title = "pwned"</script><img src="x" onerror="parent.postMessage(3, \'*\')">',
        'text/plain': 'hostile',
      }),
    ], 3),
    code('for i in range(120): print(i)', [stream('stdout', Array.from({ length: 120 }, (_, i) => `line ${i}\n`).join(''))], 4),
    code('sympy.sqrt(x) / 2', [result(5, { 'text/latex': '$\\displaystyle \\frac{\\sqrt{x}}{2}$', 'text/plain': 'sqrt(x)/2' })], 5),
  ]),
  // Chart libraries' outputs with their PNG fallbacks, as the libraries emit them (the venv
  // has neither plotly nor altair): plotly's `plotly_mimetype+png` renderers, altair's
  // mimetype renderer with a PNG, and a Vega spec; plus a JSON output long enough to fold.
  'charts.ipynb': nb([
    code(
      'import plotly.express as px, plotly.io as pio\npio.renderers.default = "plotly_mimetype+png"\npx.line(x=list(range(6)), y=points, title="visits per day").show()',
      [
        display({
          'application/vnd.plotly.v1+json': {
            config: { plotlyServerURL: 'https://plot.ly' },
            data: [{ hovertemplate: 'x=%{x}<br>y=%{y}<extra></extra>', legendgroup: '', line: { color: '#636efa', dash: 'solid' }, mode: 'lines', type: 'scatter', x: [0, 1, 2, 3, 4, 5], y: POINTS }],
            layout: { title: { text: 'visits per day' }, xaxis: { title: { text: 'x' } }, yaxis: { title: { text: 'y' } }, template: { data: {}, layout: {} } },
          },
          'image/png': linePng,
        }),
      ],
      1,
    ),
    code('import altair as alt\nalt.Chart(df).mark_bar().encode(x="visits", y="city")', [
      result(2, {
        'application/vnd.vegalite.v5+json': VEGA_LITE_SPEC,
        'image/png': hbarPng,
        'text/plain':
          '<VegaLite 5 object>\n\nIf you see this message, it means the renderer has not been properly enabled\nfor the frontend that you are using. For more information, see\nhttps://altair-viz.github.io/user_guide/display_frontends.html#troubleshooting\n',
      }),
    ], 2),
    code('from IPython.display import display\ndisplay({"application/vnd.vega.v5+json": spec, "image/png": png}, raw=True)', [
      display({
        'application/vnd.vega.v5+json': { $schema: 'https://vega.github.io/schema/vega/v5.json', width: 240, height: 160, data: [{ name: 'table', values: BARS.map((v, i) => ({ i, v })) }], marks: [{ type: 'rect', from: { data: 'table' } }] },
        'image/png': chartPng,
      }),
    ], 3),
    code('from IPython.display import JSON\nJSON(visits_by_city)', [
      result(4, { 'application/json': Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`city${i}`, { visits: i * 10, share: i / 30 }])), 'text/plain': '<IPython.core.display.JSON object>' }),
    ], 4),
  ]),
  'hostile.ipynb': nb([md(HOSTILE_MARKDOWN), md('**plain** Markdown, on the page')]),
  'error.ipynb': nb([
    code('def check(v):\n    raise ValueError(f"bad value {v}")\ncheck(42)', [
      {
        output_type: 'error',
        ename: 'ValueError',
        evalue: 'bad value 42',
        traceback: [
          '\x1b[0;31m---------------------------------------------------------------------------\x1b[0m',
          '\x1b[0;31mValueError\x1b[0m                                Traceback (most recent call last)',
          'Cell \x1b[0;32mIn[1], line 3\x1b[0m\n\x1b[1;32m      1\x1b[0m \x1b[38;5;28;01mdef\x1b[39;00m \x1b[38;5;21mcheck\x1b[39m(v):\n\x1b[0;32m----> 3\x1b[0m \x1b[43mcheck\x1b[49m\x1b[43m(\x1b[49m\x1b[38;5;241;43m42\x1b[39;49m\x1b[43m)\x1b[49m',
          '\x1b[0;31mValueError\x1b[0m: bad value 42',
        ],
      },
    ], 1),
  ]),
};
