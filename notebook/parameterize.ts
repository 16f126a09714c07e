// papermill's parameter injection (parameterize.py parameterize_notebook, with the
// unknown-parameter warnings of execute.py and the lookups of utils.py).

import { cellTags, sourceText, uniqueCellId, type Cell, type CodeCell, type Notebook } from './nbformat.js';
import { ParamError, paramsToJson, type Params } from './params.js';
import { translatorFor, type ParameterInfo, type Translator } from './translators/index.js';

export const PARAMETERS_TAG = 'parameters';
export const INJECTED_PARAMETERS_TAG = 'injected-parameters';
export const NO_PARAMETERS_CELL_WARNING = "Input notebook does not contain a cell with tag 'parameters'";

export interface KernelOverride {
  /** Overrides metadata.kernelspec.name (papermill --kernel). */
  kernelName?: string;
  /** Overrides metadata.language_info.name (papermill --language). */
  language?: string;
}

export interface ParameterizeOptions extends KernelOverride {
  /** The injected cell's comment line (papermill default "Parameters"). */
  comment?: string;
  /** papermill --report-mode: hide the injected cell's source. */
  reportMode?: boolean;
}

/** Index of the first cell tagged `tag`, or -1 (papermill find_first_tagged_cell_index). */
export function findTaggedCell(nb: Notebook, tag: string): number {
  return nb.cells.findIndex((c) => cellTags(c).includes(tag));
}

export function findParametersCell(nb: Notebook): number {
  return findTaggedCell(nb, PARAMETERS_TAG);
}

/** papermill utils.nb_kernel_name: the override, else kernelspec.name. */
export function notebookKernelName(nb: Notebook, override?: string): string {
  const name = override || nb.metadata.kernelspec?.name;
  if (!name) {
    throw new ParamError('the notebook names no kernel (metadata.kernelspec.name): pass a kernel name (--kernel)');
  }
  return name;
}

/** papermill utils.nb_language: override, language_info.name, then kernelspec.language (v3 leftovers). */
export function notebookLanguage(nb: Notebook, override?: string): string {
  const lang = override || nb.metadata.language_info?.name || nb.metadata.kernelspec?.language;
  if (!lang || typeof lang !== 'string') {
    throw new ParamError('the notebook names no language (metadata.language_info.name or kernelspec.language)');
  }
  return lang;
}

function notebookTranslator(nb: Notebook, o: KernelOverride): Translator {
  const kernel = notebookKernelName(nb, o.kernelName);
  return translatorFor(notebookLanguage(nb, o.language), kernel);
}

/**
 * Parameters declared in the first `parameters` cell (papermill --help-notebook /
 * inspect_notebook). [] when there is no such cell.
 */
export function inferParameters(nb: Notebook, o: KernelOverride = {}): ParameterInfo[] {
  const idx = findParametersCell(nb);
  if (idx < 0) return [];
  return notebookTranslator(nb, o).inspect(sourceText(nb.cells[idx]!.source));
}

/**
 * What papermill logs as warnings when it injects `params` into `nb`, in its order: each
 * name the parameters cell does not declare (execute_notebook), then a missing parameters
 * cell (parameterize_notebook). [] without parameters (papermill injects nothing then).
 * The CLI prints them at submit; prepareRun returns them from `parameterize`.
 */
export function parameterWarnings(nb: Notebook, params: Params, opts: KernelOverride = {}): string[] {
  const names = Object.keys(params);
  if (names.length === 0) return [];
  const declared = new Set(inferParameters(nb, opts).map((p) => p.name));
  const warnings = names.filter((name) => !declared.has(name)).map((name) => `Passed unknown parameter: ${name}`);
  if (findTaggedCell(nb, INJECTED_PARAMETERS_TAG) < 0 && findParametersCell(nb) < 0) warnings.push(NO_PARAMETERS_CELL_WARNING);
  return warnings;
}

/**
 * Inject `params` as papermill does: a new code cell tagged `injected-parameters`
 * replaces the first existing one, else goes right after the first `parameters`
 * cell, else at the top (with a warning). Each name the parameters cell does not
 * declare is warned about first, as papermill's execute_notebook does. With no
 * parameters nothing is injected (papermill skips injection then). The input is
 * not modified. The new cell's id is "injected-parameters" (suffixed if taken).
 */
export function parameterize(
  nb: Notebook,
  params: Params,
  opts: ParameterizeOptions = {},
): { notebook: Notebook; warnings: string[] } {
  if (Object.keys(params).length === 0) return { notebook: { ...nb, cells: [...nb.cells] }, warnings: [] };

  const warnings = parameterWarnings(nb, params, opts);
  const translator = notebookTranslator(nb, opts);
  const source = translator.codify(params, opts.comment ?? 'Parameters');

  const paramIdx = findParametersCell(nb);
  const injectedIdx = findTaggedCell(nb, INJECTED_PARAMETERS_TAG);
  let before: Cell[];
  let after: Cell[];
  if (injectedIdx >= 0) {
    before = nb.cells.slice(0, injectedIdx);
    after = nb.cells.slice(injectedIdx + 1);
  } else if (paramIdx >= 0) {
    before = nb.cells.slice(0, paramIdx + 1);
    after = nb.cells.slice(paramIdx + 1);
  } else {
    before = [];
    after = nb.cells;
  }

  const metadata: CodeCell['metadata'] = { tags: [INJECTED_PARAMETERS_TAG] };
  if (opts.reportMode) metadata.jupyter = { source_hidden: true };
  const cell: CodeCell = {
    id: uniqueCellId([...before, ...after], INJECTED_PARAMETERS_TAG),
    cell_type: 'code',
    metadata,
    execution_count: null,
    source,
    outputs: [],
  };

  const notebook: Notebook = {
    ...nb,
    metadata: {
      ...nb.metadata,
      papermill: { ...(nb.metadata.papermill ?? {}), parameters: paramsToJson(params) },
    },
    cells: [...before, cell, ...after],
  };
  return { notebook, warnings };
}
