/**
 * Issue 14 items 8 and 9 through the real CLI and stack: input a run cannot carry is
 * refused at submit in one line, exit 2; input any valid notebook may hold runs.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertValidNotebook, codeCell, notebook, runCli, startHarness, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

function aliasBomb(): string {
  const lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i <= 9; i++) lines.push(`a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(',')}]`);
  return lines.join('\n') + '\n';
}

describe('input limits at submit', () => {
  it('refuses a YAML alias bomb in -y and -f in one line, exit 2', async () => {
    const path = await h.writeNotebook('bomb.ipynb', notebook([codeCell('x = 1')]));
    const y = await runCli(['run', path, '-y', aliasBomb()], h.cliEnv);
    expect(y.code).toBe(2);
    expect(y.stderr.trim()).toBe('millrace: -y: more than 1000 alias expansions (the limit, against YAML alias bombs)');
    const file = join(h.dir, 'bomb.yaml');
    await writeFile(file, aliasBomb());
    const f = await runCli(['run', path, '-f', file], h.cliEnv);
    expect(f.code).toBe(2);
    expect(f.stderr.trim()).toBe(`millrace: -f ${file}: more than 1000 alias expansions (the limit, against YAML alias bombs)`);
  });

  it('refuses a 3 MB parameter before Temporal does, exit 2, saying where large data belongs', async () => {
    const path = await h.writeNotebook('big.ipynb', notebook([codeCell('blob = ""', ['parameters']), codeCell('print(len(blob))')]));
    // One 3 MB file is over the YAML limit; three files under it add up over the parameters' limit.
    const big = join(h.dir, 'big.yaml');
    await writeFile(big, `blob: "${'x'.repeat(3 * 1024 * 1024)}"\n`);
    const one = await runCli(['run', path, '-f', big], h.cliEnv);
    expect(one.code).toBe(2);
    expect(one.stderr.trim()).toBe(`millrace: -f ${big}: 3.0 MB of YAML; the limit is 1 MB: pass large data as a file the notebook reads`);
    const files: string[] = [];
    for (const name of ['a', 'b', 'c']) {
      files.push('-f', join(h.dir, `${name}.yaml`));
      await writeFile(join(h.dir, `${name}.yaml`), `${name}: "${name.repeat(1000 * 1024)}"\n`);
    }
    const three = await runCli(['run', path, ...files], h.cliEnv);
    expect(three.code).toBe(2);
    expect(three.stderr.trim()).toBe(
      "millrace: parameters are 2.9 MB (the largest, a, is 1000.0 kB); the limit is 1 MB, half of Temporal's 2 MB payload limit: " +
        'pass large data as a file the notebook reads (a path as the parameter), not as a parameter value',
    );
  });

  it('refuses a notebook nested 100,000 levels deep in one line, exit 2', async () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const path = join(h.dir, 'deep.ipynb');
    await writeFile(path, JSON.stringify(notebook([codeCell('x = 1')])).replace('"metadata":{', `"metadata":{"deep":${deep},`));
    const r = await runCli(['run', path], h.cliEnv);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`millrace: ${path}: nested more than 512 levels deep (the limit): is it a notebook?`);
  });

  it('runs a notebook with top-level keys that sort before "cells" (Authors, __proto__) and keeps them as data', async () => {
    const path = join(h.dir, 'authors.ipynb');
    const text = JSON.stringify({ Authors: ['ada'], ...notebook([codeCell('print("hi")')]) }).replace('{', '{"__proto__":{"polluted":true},');
    await writeFile(path, text);
    const r = await runCli(['run', path, '--json'], h.cliEnv);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { status: string; output: string };
    expect(out.status).toBe('completed');
    const saved = await readFile(out.output, 'utf8');
    expect(saved).toMatch(/^\{\n "Authors": \[\n  "ada"\n \],\n "__proto__": \{\n  "polluted": true\n \},\n "cells": \[/);
    await assertValidNotebook(out.output).catch((err: Error) => {
      // nbformat's schema has no Authors key: what matters is that it parses and keeps them.
      if (!/Additional properties/.test(err.message)) throw err;
    });
  });
});
