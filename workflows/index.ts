/** Entry point of the workflow bundle: every workflow type the worker registers. */
export { notebookRun } from './notebook-run.js';
