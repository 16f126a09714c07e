// Which parameter translator a notebook gets. papermill looks the kernel name up
// first, then the language (PapermillTranslators.find_translator); only its Python
// translator is implemented here, so other languages are refused up front.

import { ParamError } from '../params.js';
import { pythonTranslator, type Translator } from './python.js';

export type { ParameterInfo, Translator } from './python.js';
export { pythonTranslator } from './python.js';

// papermill's registry (translators.py): name -> translator language.
const PAPERMILL_REGISTRY: Readonly<Record<string, string>> = {
  python: 'python',
  R: 'R',
  scala: 'scala',
  julia: 'julia',
  matlab: 'matlab',
  '.net-csharp': 'csharp',
  '.net-fsharp': 'fsharp',
  '.net-powershell': 'powershell',
  pysparkkernel: 'python',
  sparkkernel: 'scala',
  sparkrkernel: 'R',
  bash: 'bash',
};

/**
 * The translator for a kernel language (and optionally kernel name, which papermill
 * consults first: "pysparkkernel" is Python whatever its language says).
 */
export function translatorFor(language: string, kernelName?: string): Translator {
  const viaKernel = kernelName !== undefined && Object.hasOwn(PAPERMILL_REGISTRY, kernelName) ? PAPERMILL_REGISTRY[kernelName] : undefined;
  const viaLanguage = Object.hasOwn(PAPERMILL_REGISTRY, language) ? PAPERMILL_REGISTRY[language] : undefined;
  if ((viaKernel ?? viaLanguage) === 'python') return pythonTranslator;
  throw new ParamError(`no parameter translator for language "${language}": only Python kernels are supported`);
}
