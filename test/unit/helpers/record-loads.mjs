// `node --import` this file to record every module a process loads, one URL or path a line,
// in the file named by MILLRACE_RECORD_LOADS. ES modules are seen by a load hook (it runs
// on the loader's thread, hence the file rather than memory); CommonJS modules that other
// CommonJS modules require bypass the hooks on Node 20, so require's cache is added at exit.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const file = process.env['MILLRACE_RECORD_LOADS'];
if (!file) throw new Error('record-loads.mjs: set MILLRACE_RECORD_LOADS to the file to write');

const hooks = `
import { appendFileSync } from 'node:fs';
let file;
export function initialize(data) { file = data; }
export async function load(url, context, next) {
  appendFileSync(file, url + '\\n');
  return next(url, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`, import.meta.url, { data: file });

const cache = createRequire(import.meta.url).cache;
process.on('exit', () => appendFileSync(file, Object.keys(cache).map((path) => `${path}\n`).join('')));
