/**
 * The `millrace schedule` command group (SPEC §3). Only commander definitions live here;
 * each action loads cli/commands/schedule.ts when it runs, as the other commands do.
 */
import type { Command } from 'commander';
import type { PairOptions } from './argv.js';
import { UserError } from './errors.js';
import { addJobOptions, addParameterOptions, addTimeoutOptions, jobArgs, parameterArgs } from './options.js';
import { addPlacementOptions, placementArgs } from './placement-options.js';

// Spelled out rather than imported: registering commands must not load the Temporal client.
const OVERLAP_NAMES = ['skip', 'buffer-one', 'buffer-all', 'cancel-other', 'terminate-other', 'allow-all'];

const HELP = {
  cron: 'cron expression: minute hour day-of-month month day-of-week, e.g. "0 6 * * *" (or @daily, @hourly, ...)',
  every: 'interval instead of cron, e.g. 30s, 15m, 1h, 1d (at least 1s)',
  timezone: 'IANA time zone of the spec and of the injected time (default UTC)',
  overlap: `when a run is due while the previous one still runs: ${OVERLAP_NAMES.join(', ')} (default skip)`,
  catchup: 'after an outage, start missed runs at most this late, e.g. 10m, 1d (default 1y)',
  notifyOn: 'POST a JSON summary of each run that ends this way: failure, success, always (default failure)',
  notifyWebhook: 'http(s) URL to POST to (a Slack incoming webhook works); sealed, never stored in clear',
  outputDir: 'where runs write <output-dir>/<run id>/<notebook> (default: the store\'s runs/)',
  timeParameter: 'parameter that receives the nominal time, ISO 8601 (default scheduled_time)',
  dateParameter: 'parameter that receives the nominal date, YYYY-MM-DD (default run_date)',
};

/** --cron, --every and --timezone: `create` and `update` alike. */
function addSpecOptions(command: Command): Command {
  return command.option('--cron <expr>', HELP.cron).option('--every <duration>', HELP.every).option('--timezone <tz>', HELP.timezone);
}

/** What each run of the schedule gets: kernel, output folder, time limits, overlap and catch-up policies. */
function addRunOptions(command: Command, kernelHelp: string): Command {
  command
    .option('--kernel <name>', kernelHelp)
    .option('--output-dir <dir>', HELP.outputDir)
    .option('--cwd <dir>', "each run's kernel working directory, resolved on the worker at each run (create's default: the directory it is called from)");
  return addTimeoutOptions(command, { cell: 'fail a cell that runs longer', run: 'fail a run that takes longer' })
    .option('--overlap <policy>', HELP.overlap)
    .option('--catchup-window <duration>', HELP.catchup);
}

/** The parameters that receive the nominal time, and --json: the last options of `create` and `update`. */
function addTimeParameterOptions(command: Command): Command {
  return command
    .option('--time-parameter <name>', HELP.timeParameter)
    .option('--date-parameter <name>', HELP.dateParameter)
    .option('--json', 'print the schedule as describe --json does', false);
}

/** Adds `schedule` and its subcommands; `setExit` receives each action's exit code. */
export function addScheduleCommands(program: Command, pairs: PairOptions, setExit: (code: number) => void): void {
  const load = () => import('./commands/schedule.js');
  const noPairs = (command: string) => {
    if (pairs.parameters.length + pairs.raw.length > 0) throw new UserError(`-p and -r are not options of \`millrace schedule ${command}\``);
  };

  const schedule = program.command('schedule').description('notebooks on Temporal Schedules: create, list, describe, pause, trigger, backfill, update, delete');

  const create = schedule
    .command('create')
    .description('run a notebook on a schedule; the notebook is snapshotted now')
    .argument('<name>', 'schedule name; runs are named <name>-<nominal time>')
    .argument('<notebook>', 'the .ipynb file');
  addSpecOptions(create);
  addParameterOptions(create, {
    parameters: 'parameter, papermill coercion; repeatable',
    raw: 'parameter kept as a string; repeatable',
    file: 'YAML file of parameters; repeatable',
    yaml: 'YAML string of parameters; repeatable',
  });
  addRunOptions(create, "kernel name (default: the notebook's kernelspec)")
    .option('--pause-on-failure', 'pause the schedule when a run fails', false)
    .option('--paused', 'create it paused', false)
    .option('--note <text>', 'note shown by describe (e.g. who owns it)')
    .option('--notify-on <when>', HELP.notifyOn)
    .option('--notify-webhook <url>', HELP.notifyWebhook);
  addJobOptions(create);
  addPlacementOptions(create);
  addTimeParameterOptions(create).action(async (name: string, notebook: string, opts) => {
    setExit(await (await load()).scheduleCreate(name, notebook, { ...opts, ...parameterArgs(pairs, opts), placement: placementArgs(opts), wrap: jobArgs(opts) }));
  });

  schedule
    .command('list')
    .description('schedules with their next run, last run and its status')
    .option('--json', 'JSON output', false)
    .action(async (opts) => {
      noPairs('list');
      setExit(await (await load()).scheduleList(opts));
    });

  schedule
    .command('describe')
    .description('spec, policies, the next 10 run times, recent runs with status and output notebook')
    .argument('<name>', 'schedule name')
    .option('--json', 'JSON output', false)
    .action(async (name: string, opts) => {
      noPairs('describe');
      setExit(await (await load()).scheduleDescribe(name, opts));
    });

  const update = schedule
    .command('update')
    .description('change parameters (merged over the current ones), spec, policies, or the notebook (a new snapshot)')
    .argument('<name>', 'schedule name')
    .option('--notebook [file]', 'take a new snapshot: of FILE, or of the schedule\'s notebook file as it is now');
  addSpecOptions(update);
  addParameterOptions(update, {
    parameters: 'set a parameter, papermill coercion; repeatable',
    raw: 'set a parameter kept as a string; repeatable',
    file: 'YAML file of parameters; repeatable',
    yaml: 'YAML string of parameters; repeatable',
  }).option('--reset-parameters', 'drop the current parameters first', false);
  addRunOptions(update, 'kernel name')
    .option('--pause-on-failure', 'pause the schedule when a run fails')
    .option('--no-pause-on-failure', 'keep going when a run fails')
    .option('--note <text>', 'replace the note')
    .option('--notify-on <when>', HELP.notifyOn)
    .option('--notify-webhook <url>', HELP.notifyWebhook)
    .option('--no-notify', 'stop notifying');
  addTimeParameterOptions(update).action(async (name: string, opts) => {
    setExit(await (await load()).scheduleUpdate(name, { ...opts, ...parameterArgs(pairs, opts) }));
  });

  for (const [command, paused] of [['pause', true], ['unpause', false]] as const) {
    schedule
      .command(command)
      .description(paused ? 'stop starting runs (running ones go on)' : 'start runs again at the next due time')
      .argument('<name>', 'schedule name')
      .option('--note <text>', 'why (shown by describe)')
      .option('--json', 'JSON output', false)
      .action(async (name: string, opts) => {
        noPairs(command);
        setExit(await (await load()).schedulePause(name, paused, opts));
      });
  }

  schedule
    .command('trigger')
    .description("start a run now, under the schedule's overlap policy")
    .argument('<name>', 'schedule name')
    .option('--overlap <policy>', 'overlap policy for this run only')
    .option('--force', 'trigger even when the schedule is paused', false)
    .option('--json', 'JSON output: name, outcome (started|skipped|buffered|dropped|pending), run_id, output', false)
    .action(async (name: string, opts) => {
      noPairs('trigger');
      setExit(await (await load()).scheduleTrigger(name, opts));
    });

  schedule
    .command('backfill')
    .description('take the runs due between --start and --end now, one after another')
    .argument('<name>', 'schedule name')
    .requiredOption('--start <time>', 'ISO 8601 time with Z or an offset, or a date (start of that day in the schedule\'s zone)')
    .requiredOption('--end <time>', 'ISO 8601 time with Z or an offset, or a date (the whole day is included)')
    .option('--overlap <policy>', 'overlap policy for the backfill (default buffer-all: every run, in order)')
    .option('--json', 'JSON output', false)
    .action(async (name: string, opts) => {
      noPairs('backfill');
      setExit(await (await load()).scheduleBackfill(name, opts));
    });

  schedule
    .command('delete')
    .description('delete the schedule; its runs and output notebooks are kept')
    .argument('<name>', 'schedule name')
    .option('--json', 'JSON output', false)
    .action(async (name: string, opts) => {
      noPairs('delete');
      setExit(await (await load()).scheduleDelete(name, opts));
    });
}
