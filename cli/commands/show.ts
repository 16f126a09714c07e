/**
 * `millrace show RUN`: what Temporal knows of a run, plus its record cell by cell. With a
 * `millrace dev` here, dev checks the run argument and builds the view (cli/show-view.ts):
 * this process loads neither zod, the record nor the Temporal client (docs/architecture.md,
 * "Start-up").
 */
import { askDev, devTarget } from '../dev-api.js';
import { EXIT } from '../errors.js';
import type { ResumedFrom, RunView, ShownRun } from '../show-view.js';
import { parametersText, table } from '../table.js';
import { describePlacement } from '../../notebook/placement-syntax.js';
import { savedFileFacts } from '../../notebook/saved-file-facts.js';

export async function showCommand(run: string, options: { json: boolean }): Promise<number> {
  const colour = process.stdout.isTTY === true;
  const dev = devTarget(process.env, process.cwd());
  const shownByDev = dev && (await askDev<ShownRun>(dev, 'show', { run, colour }));
  if (shownByDev) return printRun(shownByDev, options.json);
  const [{ checkRunArgument }, { loadConfig }, { shownRun }, { READS_HISTORY, withSession }] = await Promise.all([
    import('../run-ids.js'),
    import('../config.js'),
    import('../show-view.js'),
    import('../session.js'),
  ]);
  checkRunArgument(run, 'show');
  const config = loadConfig();
  // With TEMPORAL_ADDRESS or a Temporal profile set, whether a cluster or this directory's
  // dev comes first is the configuration's to say (devTarget).
  const shown =
    (dev ? undefined : await askDev<ShownRun>(config, 'show', { run, colour })) ??
    (await withSession({ needs: READS_HISTORY, json: options.json, config }, (session) => shownRun(session.client, run, colour)));
  return printRun(shown, options.json);
}

function printRun({ view, traceback }: ShownRun, json: boolean): number {
  if (json) {
    process.stdout.write(`${JSON.stringify(view)}\n`);
    return EXIT.ok;
  }
  const placement = describePlacement(view.kernel);
  const lines = [
    `run:      ${view.run_id}`,
    `status:   ${view.status}`,
    `notebook: ${view.notebook ?? ''}`,
    `output:   ${view.output ?? ''}`,
    ...(view.cwd ? [`cwd:      ${view.cwd}`] : []),
    ...(view.kernel?.['name'] !== undefined ? [`kernel:   ${describeKernel(view.kernel)}`] : []),
    ...(placement !== undefined ? [`image:    ${placement}`] : []),
    ...(view.parameters && Object.keys(view.parameters).length ? [`params:   ${parametersText(view.parameters)}`] : []),
    `started:  ${view.started ?? ''}`,
    `ended:    ${view.ended ?? ''}${view.duration_s === null ? '' : ` (${view.duration_s.toFixed(1)} s)`}`,
  ];
  for (const f of view.saved_files) {
    lines.push(`saved:    cell ${f.cell}: ${f.location} ${savedFileFacts(f)}`);
  }
  if (view.notification_failed) lines.push(`notification failed: ${view.notification_failed}`);
  if (view.resumed_from) lines.push(`resumed:  ${describeResume(view.resumed_from)}`);
  for (const later of view.resumed_as) lines.push(`resumed as: ${later.run_id}`);
  if (view.failed_cell !== null && view.error) {
    lines.push(`failed:   cell ${view.failed_cell}: ${view.error.ename}: ${view.error.evalue}`);
  } else if (view.reason) {
    lines.push(`failed:   ${view.reason}`);
  } else if (view.error) {
    lines.push(`failed:   ${view.error.evalue}`);
  }
  if (view.paused) {
    lines.push(`paused:   at cell ${view.paused.cell} since ${view.paused.since}, until ${view.paused.until}`);
    lines.push(`repair:   millrace retry|exec|skip|abort ${view.run_id}`);
  }
  if (view.record_note) lines.push(view.record_note);
  process.stdout.write(`${lines.join('\n')}\n\n`);
  if (view.cells.length > 0) {
    process.stdout.write(
      table(
        ['CELL', 'TYPE', 'STATUS', 'TIME', 'SOURCE'],
        view.cells.map((c) => [
          String(c.index),
          c.cell_type,
          c.status,
          c.duration_s === null ? '' : `${c.duration_s.toFixed(2)}s`,
          c.summary,
        ]),
      ),
    );
  }
  if (traceback) process.stdout.write(`\n${traceback}`);
  return EXIT.ok;
}

/** `python3: /venv/bin/python 3.11.2, kernelspec /dir`, as much as the record knows. */
function describeKernel(kernel: NonNullable<RunView['kernel']>): string {
  const program = kernel.python ? `${kernel.python}${kernel.python_version ? ` ${kernel.python_version}` : ''}` : kernel.argv0;
  const parts = [program, kernel.spec_dir ? `kernelspec ${kernel.spec_dir}` : undefined].filter(Boolean);
  return `${kernel.name ?? '?'}${parts.length ? `: ${parts.join(', ')}` : ''}`;
}

function describeResume(from: ResumedFrom): string {
  const at = from.from_cell === null ? '' : ` at cell ${from.from_cell}`;
  const how =
    from.restore === 'checkpoint'
      ? from.checkpoint_after_cell === null
        ? ' (restore checkpoint: nothing to restore)'
        : ` (restored its checkpoint after cell ${from.checkpoint_after_cell})`
      : from.restore === 'replay'
        ? ' (earlier cells replayed)'
        : '';
  return `from ${from.run_id}${at}${how}`;
}

