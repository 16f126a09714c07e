/** Recorded in every output notebook (papermill records its own version in the same place). */
export const MILLRACE_VERSION = '0.1.0';
