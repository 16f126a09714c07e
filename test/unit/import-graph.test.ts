// The layering of the product (docs/architecture.md): each folder may import values only
// from the layers below it; a sibling or a layer above may be imported for types only
// (erased at compile time, so no code of theirs is loaded). This is what keeps notebook/
// bundleable into workflow code, record/ usable by every reader, and the CLI on top.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Lower ranks are lower layers. workflows/contracts.ts is the contract of the workflow
 * boundary that both workflows and activities build on, so it sits below both.
 */
const LAYERS: Record<string, number> = {
  notebook: 0,
  record: 1,
  'workflows/contracts': 1,
  workflows: 2,
  activities: 2,
  worker: 3,
  viewer: 3,
  // Job files wrapped into notebooks: the generator is notebook/sql/, this layer adds the
  // splitter process and the runtime files, for the CLI.
  jobs: 4,
  cli: 5,
};

function layerOf(file: string): string | undefined {
  const rel = relative(ROOT, file).split(sep).join('/');
  if (rel === 'workflows/contracts.ts' || rel === 'workflows/defaults.ts') return 'workflows/contracts';
  const top = rel.split('/')[0]!;
  return top in LAYERS ? top : undefined;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : /\.tsx?$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

/** Relative imports and re-exports of one file; `import('…')` counts as a value import. */
function importsOf(file: string, code: string): Edge[] {
  const text = code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const edges: Edge[] = [];
  const target = (spec: string): string => resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
  for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?([^;]*?)\s+from\s+'(\.{1,2}\/[^']+)'/gm)) {
    const names = m[3]!;
    // `import { type A, type B } from` loads nothing either.
    const allInlineTypes = /^\{[\s\S]*\}$/.test(names) && names.slice(1, -1).split(',').every((n) => n.trim() === '' || /^type\s/.test(n.trim()));
    edges.push({ from: file, to: target(m[4]!), typeOnly: Boolean(m[2]) || allInlineTypes });
  }
  for (const m of text.matchAll(/import\(\s*'(\.{1,2}\/[^']+)'\s*\)/g)) edges.push({ from: file, to: target(m[1]!), typeOnly: false });
  return edges;
}

describe('import graph', () => {
  const files = Object.keys(LAYERS)
    .filter((l) => !l.includes('/'))
    .flatMap((dir) => sources(join(ROOT, dir)));

  it('finds the imports it checks', () => {
    const edges = files.flatMap((f) => importsOf(f, readFileSync(f, 'utf8')));
    expect(files.length).toBeGreaterThan(50);
    // Guards the parser itself: a value import from contracts and a type-only one from activities.
    const fromWorkflows = edges.filter((e) => layerOf(e.from) === 'workflows');
    expect(fromWorkflows.some((e) => layerOf(e.to) === 'workflows/contracts' && !e.typeOnly)).toBe(true);
    expect(fromWorkflows.some((e) => layerOf(e.to) === 'activities' && e.typeOnly)).toBe(true);
  });

  it('has no value import of a sibling or a higher layer', () => {
    const upward = files
      .flatMap((f) => importsOf(f, readFileSync(f, 'utf8')))
      .filter((e) => {
        const from = layerOf(e.from);
        const to = layerOf(e.to);
        if (!from || !to || from === to || e.typeOnly) return false;
        return LAYERS[to]! >= LAYERS[from]!;
      })
      .map((e) => `${relative(ROOT, e.from)} -> ${relative(ROOT, e.to)}`);
    expect(upward).toEqual([]);
  });

  it('tells value imports from type-only ones', () => {
    const f = join(ROOT, 'activities', 'x.ts');
    const edges = importsOf(
      f,
      [
        "import type { A } from '../workflows/a.js';",
        "import { type B, type C } from '../worker/b.js';",
        "import { D, type E } from '../worker/d.js';",
        "export { F } from '../cli/f.js';",
        "const g = await import('../cli/g.js');",
      ].join('\n'),
    );
    expect(edges.map((e) => [relative(ROOT, e.to), e.typeOnly])).toEqual([
      [join('workflows', 'a.ts'), true],
      [join('worker', 'b.ts'), true],
      [join('worker', 'd.ts'), false],
      [join('cli', 'f.ts'), false],
      [join('cli', 'g.ts'), false],
    ]);
  });
});
