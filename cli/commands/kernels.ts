/**
 * `millrace kernels`: the kernels `run --kernel` offers on the embedded stack, computed
 * from this shell's environment the way the embedded Jupyter Server computes them
 * (worker/kernelspecs.ts), without starting anything.
 */
import { fallbackNote, kernelSearch, listKernelspecs, type KernelspecEntry } from '../../worker/kernelspecs.js';
import { loadConfig } from '../config.js';
import { EXIT } from '../errors.js';
import { table } from '../table.js';

export async function kernelsCommand(options: { json: boolean }): Promise<number> {
  const search = await kernelSearch(process.env, loadConfig().stateDir);
  const kernels = await listKernelspecs(search);
  if (options.json) {
    process.stdout.write(`${JSON.stringify(kernels.map(asJson))}\n`);
    return EXIT.ok;
  }
  const rows = kernels.map((k) => [k.isDefault ? `${k.name} (default)` : k.name, k.displayName, k.language, k.source, where(k)]);
  process.stdout.write(table(['NAME', 'DISPLAY NAME', 'LANGUAGE', 'FROM', 'WHERE'], rows));
  const note = fallbackNote(search, 'all');
  if (note) process.stderr.write(`${note}\n`);
  return EXIT.ok;
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
