/**
 * `millrace kernels`: the kernels `run --kernel` offers on the embedded stack, computed
 * from this shell's environment the way the embedded Jupyter Server computes them
 * (worker/kernelspecs.ts), without starting anything.
 */
import { fallbackNote, kernelSearch, listKernelspecs, type KernelspecEntry } from '../../worker/kernelspecs.js';
import { loadConfig, type Config } from '../config.js';
import { readDevFile } from '../environment.js';
import { EXIT } from '../errors.js';
import { table } from '../table.js';

export async function kernelsCommand(options: { json: boolean }): Promise<number> {
  const config = loadConfig();
  const search = await kernelSearch(process.env, config.stateDir);
  const kernels = await listKernelspecs(search);
  if (options.json) {
    process.stdout.write(`${JSON.stringify(kernels.map(asJson))}\n`);
    return EXIT.ok;
  }
  const rows = kernels.map((k) => [k.isDefault ? `${k.name} (default)` : k.name, k.displayName, k.language, k.source, where(k)]);
  process.stdout.write(table(['NAME', 'DISPLAY NAME', 'LANGUAGE', 'FROM', 'WHERE'], rows));
  for (const note of [fallbackNote(search, 'all'), elsewhereNote(config)]) {
    if (note) process.stderr.write(`${note}\n`);
  }
  return EXIT.ok;
}

/** When runs do not start the embedded stack from this shell, the list may not be theirs. */
function elsewhereNote(config: Config): string | undefined {
  if (config.temporalAddress) {
    return 'note: with TEMPORAL_ADDRESS set, runs go to `millrace worker` processes, whose Jupyter Servers offer their own kernels';
  }
  const dev = readDevFile(config);
  if (dev) return `note: \`millrace dev\` (pid ${dev.pid}) runs here and offers the kernels of the shell it started in: restart it after changing them`;
  return undefined;
}

/** A generated kernelspec's directory means little to the user; its interpreter does. */
function where(k: KernelspecEntry): string {
  return k.python ?? k.dir;
}

function asJson(k: KernelspecEntry) {
  return {
    name: k.name,
    display_name: k.displayName,
    language: k.language,
    source: k.source,
    dir: k.dir,
    argv: k.argv,
    default: k.isDefault,
  };
}
