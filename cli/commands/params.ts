/** `millrace params NOTEBOOK`: the parameters papermill would infer (`--help-notebook`). */
import { NotebookError, parseNotebook } from '../../notebook/nbformat.js';
import { inferParameters } from '../../notebook/parameterize.js';
import { EXIT, UserError } from '../errors.js';
import { readNotebookSource } from '../notebook-source.js';

export async function paramsCommand(path: string, options: { json: boolean }): Promise<number> {
  const { bytes, inputPath } = await readNotebookSource(path);
  let params;
  try {
    params = inferParameters(parseNotebook(bytes.toString('utf8'), inputPath));
  } catch (err) {
    if (err instanceof NotebookError) throw new UserError(err.message);
    throw err;
  }
  if (options.json) {
    process.stdout.write(`${JSON.stringify(params)}\n`);
    return EXIT.ok;
  }
  if (params.length === 0) {
    process.stdout.write(`No cell tagged 'parameters' (or no parameters in it) in ${path}\n`);
    return EXIT.ok;
  }
  // The same layout as papermill's --help-notebook.
  const lines = [`Parameters inferred for notebook '${path}':`];
  for (const p of params) {
    const type = p.inferred_type_name === 'None' ? 'Unknown type' : p.inferred_type_name;
    const definition = `  ${p.name}: ${type} (default ${p.default})`;
    if (definition.length > 30) {
      lines.push(p.help ? `${definition}\n${' '.repeat(34)}${p.help}` : definition);
    } else {
      lines.push(`${definition.padEnd(34)}${p.help}`);
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return EXIT.ok;
}
