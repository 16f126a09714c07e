// The pure notebook model shared by workflows and activities: no I/O, no clock,
// no randomness, no node: imports (Temporal bundles it into workflow code).
export * from './nbformat.js';
export * from './params.js';
export { paramsFromYaml, paramsToYaml } from './params-yaml.js';
export * from './parameterize.js';
export * from './record.js';
export * from './outputs.js';
export * from './time.js';
export { translatorFor, pythonTranslator } from './translators/index.js';
export type { ParameterInfo, Translator } from './translators/index.js';
export { MILLRACE_VERSION } from './version.js';
