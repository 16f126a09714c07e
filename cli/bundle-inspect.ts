/**
 * Bundles `millrace inspect`'s screens with Ink and React into one module at build time
 * (`npm run build`, after tsc): dist/cli/commands/inspect.js is replaced by the bundle.
 * Loaded file by file, Ink is about 540 modules (415 of them es-toolkit's, for one
 * `throttle`) and costs more than the rest of the command's first frame; as one module it
 * loads in a quarter of the time (docs/architecture.md, "Start-up"; bench/inspect.ts).
 *
 * What goes in: dist/cli/inspect/*, the command itself, Ink, React and what they import,
 * React's production build. What stays out, imported from where tsc wrote it: every other
 * module of millrace (one copy of each, so `instanceof UserError` in cli/main.ts still
 * holds), every other package, and whatever is imported with `import()`, so what an action
 * loads on first use still loads then (test/unit/cli-imports.test.ts).
 */
import { build, type Plugin } from 'esbuild';
import { rm } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { packageRoot } from '../worker/paths.js';

const dist = join(packageRoot(), 'dist', 'cli');
const entry = join(dist, 'commands', 'inspect.js');
const screens = join(dist, 'inspect') + sep;
/** The packages bundled; every other package name stays an import. */
const BUNDLED_PACKAGES = /^(ink|react)(\/|$)/;

/** `abs` as the bundle (written over the entry) imports it. */
function fromBundle(abs: string): string {
  const path = relative(dirname(entry), abs).split(sep).join('/');
  return path.startsWith('.') ? path : `./${path}`;
}

const inspectOnly: Plugin = {
  name: 'inspect-only',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === 'entry-point') return undefined;
      const fromPackage = args.importer.includes(`${sep}node_modules${sep}`);
      if (args.path.startsWith('.')) {
        const abs = resolve(args.resolveDir, args.path);
        if (args.kind === 'dynamic-import') return { path: fromBundle(abs), external: true };
        if (fromPackage || abs.startsWith(screens) || abs === entry) return undefined;
        return { path: fromBundle(abs), external: true };
      }
      if (fromPackage || args.path.startsWith('node:') || BUNDLED_PACKAGES.test(args.path)) return undefined;
      return { path: args.path, external: true };
    });
  },
};

await build({
  entryPoints: [entry],
  outfile: entry,
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  // React, its reconciler and scheduler pick their production build by NODE_ENV.
  define: { 'process.env.NODE_ENV': '"production"' },
  // React's CommonJS modules require Node's own modules.
  banner: { js: "import { createRequire as millraceCreateRequire } from 'node:module'; const require = millraceCreateRequire(import.meta.url);" },
  plugins: [inspectOnly],
});
// tsc's map describes the module that was there.
await rm(`${entry}.map`, { force: true });
