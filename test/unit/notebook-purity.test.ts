// notebook/ is bundled into Temporal workflow code: it must stay deterministic and
// free of I/O. These checks fail when someone adds a clock, randomness or a Node import.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MILLRACE_VERSION } from '../../notebook/version.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const NOTEBOOK = join(ROOT, 'notebook');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('notebook/ purity', () => {
  const files = sources(NOTEBOOK);
  it('has sources to check', () => expect(files.length).toBeGreaterThan(5));
  for (const file of files) {
    it(`${relative(ROOT, file)} has no I/O, clock or randomness`, () => {
      const code = readFileSync(file, 'utf8').replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
      const imports = [...code.matchAll(/from\s+'([^']+)'/g)].map((m) => m[1]!);
      for (const spec of imports) expect(spec, `import ${spec}`).toMatch(/^(\.{1,2}\/.*\.js|zod|yaml)$/);
      expect(code).not.toMatch(/\brequire\s*\(|\bimport\s*\(/);
      expect(code).not.toMatch(/Date\.now|new Date\(\s*\)|Math\.random|performance\.now|process\.|crypto\.|setTimeout|setInterval/);
    });
  }
});

describe('MILLRACE_VERSION', () => {
  it('is the package.json version', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(MILLRACE_VERSION).toBe(pkg.version);
  });
});
