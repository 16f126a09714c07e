/**
 * The last step of a run that got as far as a record: papermill's end-of-run fields, the
 * run's status and the kernel's language_info, saved whole; the journal is removed.
 */
import { log } from '@temporalio/activity';
import type { Notebook } from '../notebook/nbformat.js';
import { addErrorBanner, finishRecord } from '../notebook/record.js';
import type { FinalizeInput } from '../workflows/contracts.js';
import { notebookMillrace, withNotebookMillrace } from '../record/metadata.js';
import { forgetRecord, journalFolder, openRecord } from '../record/run-record.js';
import { store } from '../record/store/index.js';

const now = () => new Date().toISOString();

export async function finalizeRun(input: FinalizeInput): Promise<{ output: string }> {
  const record = await openRecord(input.output, 'latest');
  const languageInfo = input.languageInfo;
  const failed = input.status !== 'completed';
  record.update((nb) => {
    let out = finishRecord(nb, { endTime: now(), failed });
    if (languageInfo) out = { ...out, metadata: { ...out.metadata, language_info: languageInfo as Notebook['metadata']['language_info'] } };
    if (input.status === 'failed' && input.failedCell !== undefined) out = addErrorBanner(out, input.failedCell);
    // The kernel's interpreter joins what prepareRun recorded of it (a container's placement).
    const kernel = input.kernelEnvironment ? { kernel: { ...notebookMillrace(out).kernel, ...input.kernelEnvironment } } : {};
    return withNotebookMillrace(out, { revision: record.meta.revision + 1, status: input.status, ...(input.reason ? { reason: input.reason } : {}), ...kernel });
  });
  await record.flush();
  forgetRecord(input.output);
  // The whole record is written and final: its journal is no longer read by anyone.
  await store.removeFolder(journalFolder(input.output)).catch((err: unknown) =>
    log.warn('could not remove the record journal', { output: input.output, error: String(err) }),
  );
  return { output: input.output };
}
