/**
 * `millrace retry | exec | skip | abort` (SPEC §3). Only commander definitions live here;
 * each action loads cli/commands/repair.ts, and with it the Temporal client, when it runs.
 */
import type { Command } from 'commander';
import { SCRATCH_TIMEOUT_S_DEFAULT } from '../workflows/defaults.js';
import { positiveSeconds } from './options.js';

export function addRepairCommands(program: Command, setExit: (code: number) => void): void {
  program
    .command('retry')
    .description('run the failed cell of a paused run again (--on-failure pause), optionally with new source')
    .argument('<run>', 'run id of the paused run')
    .option('--source <file>', 'new source for the cell; the record keeps the original in metadata.millrace.original_source')
    .option('--json', 'print the answer as one JSON object', false)
    .action(async (run: string, opts: { source?: string; json: boolean }) => {
      const { retryCommand } = await import('./commands/repair.js');
      setExit(await retryCommand(run, opts));
    });

  program
    .command('exec')
    .description("run scratch code in a paused run's kernel to investigate; logged in the record, not a cell")
    .argument('<run>', 'run id of the paused run')
    .argument('<code>', 'Python code, or - to read it from standard input')
    .option('--timeout <seconds>', `interrupt the code after this long (default ${SCRATCH_TIMEOUT_S_DEFAULT})`, positiveSeconds('--timeout'))
    .option('--json', 'print the answer as one JSON object', false)
    .action(async (run: string, code: string, opts: { timeout?: number; json: boolean }) => {
      const { execCommand } = await import('./commands/repair.js');
      setExit(await execCommand(run, code, opts));
    });

  const decisions = [
    ['skip', 'mark the failed cell of a paused run skipped and go on with the next cell'],
    ['abort', 'end a paused run as failed: its record is finalized and its kernel shut down'],
  ] as const;
  for (const [name, description] of decisions) {
    program
      .command(name)
      .description(description)
      .argument('<run>', 'run id of the paused run')
      .option('--json', 'print the answer as one JSON object', false)
      .action(async (run: string, opts: { json: boolean }) => {
        const { decisionCommand } = await import('./commands/repair.js');
        setExit(await decisionCommand(run, name, opts));
      });
  }
}
