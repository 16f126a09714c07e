/**
 * HTML outputs sized to their content. The frame a notebook's HTML sits in is sandboxed
 * (opaque origin) and may run exactly one script, FRAME_SCRIPT: it posts the document's
 * height, a bare number, to the page whenever it changes. The page runs exactly one script,
 * PAGE_SCRIPT: it takes a message only from one of its own frames (HTML outputs, and Markdown
 * cells with raw HTML), only if it is
 * a finite number, and sets that frame's height (capped). Both are allowed by their SHA-256
 * hashes in the page's CSP (which srcdoc frames inherit) and the frame's own CSP, so no other
 * script runs: a notebook's `<script>` and `on…=` attributes stay blocked.
 *
 * Hand-written, and why: it is the whole of the viewer's script; no library does less.
 */
import { createHash } from 'node:crypto';

/** The tallest a frame is made; taller content scrolls inside it. */
export const FRAME_MAX_HEIGHT = 10_000;

export const FRAME_SCRIPT =
  '(function(){var last=-1;function post(){var h=Math.ceil(document.documentElement.getBoundingClientRect().height);' +
  'if(h!==last){last=h;parent.postMessage(h,"*");}}' +
  'if(window.ResizeObserver){new ResizeObserver(post).observe(document.documentElement);}addEventListener("load",post);post();})();';

export const PAGE_SCRIPT =
  'addEventListener("message",function(e){var h=e.data;if(typeof h!=="number"||!isFinite(h)||h<0)return;' +
  'var fs=document.querySelectorAll("iframe.html-output,iframe.markdown-html");for(var i=0;i<fs.length;i++){' +
  `if(fs[i].contentWindow===e.source){fs[i].style.height=Math.min(Math.ceil(h),${FRAME_MAX_HEIGHT})+"px";}}});`;

const hash = (script: string) => `'sha256-${createHash('sha256').update(script, 'utf8').digest('base64')}'`;

export const FRAME_SCRIPT_HASH = hash(FRAME_SCRIPT);
export const PAGE_SCRIPT_HASH = hash(PAGE_SCRIPT);
