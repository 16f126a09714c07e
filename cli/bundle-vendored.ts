/**
 * Bundles each package of VENDORED into one module at build time (`npm run build`, after
 * tsc and the inspector's bundle), dist/vendor/<name>.js, and points every import of it in
 * dist/ there. zod loads file by file as 95 modules; most commands load it (through the
 * configuration), and on Node 20, which has no compile cache, every module costs start-up
 * time: as one module, minified and in English only, it loads in a quarter of the time
 * (docs/architecture.md, "Start-up").
 *
 * One copy per process still: every module of dist/ imports the bundle. Tests run from the
 * sources import the package itself, as tsc and the workflow bundle (webpack) see it.
 */
import { build, type Plugin } from 'esbuild';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { packageRoot } from '../worker/paths.js';

/** Packages of many small modules that commands load at start-up. */
const VENDORED = ['zod', 'commander'] as const;

const dist = join(packageRoot(), 'dist');
const vendor = join(dist, 'vendor');

/**
 * zod's messages in English only, the one language it uses unless told otherwise: its 60
 * other locales (`z.locales`, which millrace never uses) are a third of its start-up.
 */
const zodInEnglish: Plugin = {
  name: 'zod-in-english',
  setup(b) {
    b.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      args.importer.includes(`${sep}zod${sep}`) ? { path: join(args.resolveDir, '..', 'locales', 'index.js'), namespace: 'zod-in-english' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-in-english' }, (args) => ({
      contents: `export { default as en } from './en.js';`,
      resolveDir: dirname(args.path),
      loader: 'js',
    }));
  },
};

for (const name of VENDORED) {
  await build({
    stdin: { contents: `export * from '${name}';`, resolveDir: packageRoot(), loader: 'js' },
    outfile: join(vendor, `${name}.js`),
    bundle: true,
    // Less to parse; names kept, as the package's errors and classes report them.
    minify: true,
    keepNames: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    plugins: [zodInEnglish],
    // commander is CommonJS and requires Node's built-ins: an ES module has no `require` of
    // its own. Only there: zod's bundle must stay free of Node's modules, as the workflow
    // bundle (webpack) takes it in when made from dist/ (test/deploy/upgrade.test.ts).
    ...(name === 'commander' ? { banner: { js: "import { createRequire as __vendorRequire } from 'node:module'; const require = __vendorRequire(import.meta.url);" } } : {}),
  });
}

/** Every emitted module of dist/ but the bundles themselves. */
async function* modules(dir: string): AsyncGenerator<string> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && path !== vendor) yield* modules(path);
    else if (entry.isFile() && entry.name.endsWith('.js')) yield path;
  }
}

// `from 'zod'` as tsc writes it, `from "zod"` as esbuild does (the inspector's bundle).
const specifier = new RegExp(`(\\bfrom\\s*)(['"])(${VENDORED.join('|')})\\2`, 'g');
for await (const file of modules(dist)) {
  const text = await readFile(file, 'utf8');
  const pointed = text.replace(specifier, (_all, from: string, quote: string, name: string) => {
    const path = relative(dirname(file), join(vendor, `${name}.js`)).split(sep).join('/');
    return `${from}${quote}${path.startsWith('.') ? path : `./${path}`}${quote}`;
  });
  if (pointed !== text) await writeFile(file, pointed);
}
