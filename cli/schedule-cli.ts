/**
 * The `millrace schedule` command group (SPEC §3). Only commander definitions live here;
 * each action loads cli/commands/schedule.ts when it runs, as the other commands do.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { PairOptions } from './argv.js';
import { UserError } from './errors.js';

// Spelled out rather than imported: registering commands must not load the Temporal client.
const OVERLAP_NAMES = ['skip', 'buffer-one', 'buffer-all', 'cancel-other', 'terminate-other', 'allow-all'];

const collect = (value: string, previous: string[]) => [...previous, value];

function positiveSeconds(flag: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${flag} takes a positive number of seconds`);
    return n;
  };
}

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

/** Adds `schedule` and its subcommands; `setExit` receives each action's exit code. */
export function addScheduleCommands(program: Command, pairs: PairOptions, setExit: (code: number) => void): void {
  const load = () => import('./commands/schedule.js');
  const noPairs = (command: string) => {
    if (pairs.parameters.length + pairs.raw.length > 0) throw new UserError(`-p and -r are not options of \`millrace schedule ${command}\``);
  };
  const params = (opts: { parametersFile: string[]; parametersYaml: string[] }) => ({
    parameters: pairs.parameters,
    raw: pairs.raw,
    files: opts.parametersFile,
    yaml: opts.parametersYaml,
  });

  const schedule = program.command('schedule').description('notebooks on Temporal Schedules: create, list, describe, pause, trigger, backfill, update, delete');

  schedule
    .command('create')
    .description('run a notebook on a schedule; the notebook is snapshotted now')
    .argument('<name>', 'schedule name; runs are named <name>-<nominal time>')
    .argument('<notebook>', 'the .ipynb file')
    .option('--cron <expr>', HELP.cron)
    .option('--every <duration>', HELP.every)
    .option('--timezone <tz>', HELP.timezone)
    .option('-p, --parameters <name value>', 'parameter, papermill coercion; repeatable')
    .option('-r, --parameters-raw <name value>', 'parameter kept as a string; repeatable')
    .option('-f, --parameters-file <file>', 'YAML file of parameters; repeatable', collect, [])
    .option('-y, --parameters-yaml <yaml>', 'YAML string of parameters; repeatable', collect, [])
    .option('--kernel <name>', "kernel name (default: the notebook's kernelspec)")
    .option('--output-dir <dir>', HELP.outputDir)
    .option('--cell-timeout <seconds>', 'fail a cell that runs longer', positiveSeconds('--cell-timeout'))
    .option('--timeout <seconds>', 'fail a run that takes longer', positiveSeconds('--timeout'))
    .option('--overlap <policy>', HELP.overlap)
    .option('--catchup-window <duration>', HELP.catchup)
    .option('--pause-on-failure', 'pause the schedule when a run fails', false)
    .option('--paused', 'create it paused', false)
    .option('--note <text>', 'note shown by describe (e.g. who owns it)')
    .option('--notify-on <when>', HELP.notifyOn)
    .option('--notify-webhook <url>', HELP.notifyWebhook)
    .option('--time-parameter <name>', HELP.timeParameter)
    .option('--date-parameter <name>', HELP.dateParameter)
    .option('--json', 'print the schedule as describe --json does', false)
    .action(async (name: string, notebook: string, opts) => {
      setExit(await (await load()).scheduleCreate(name, notebook, { ...opts, ...params(opts) }));
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

  schedule
    .command('update')
    .description('change parameters (merged over the current ones), spec, policies, or the notebook (a new snapshot)')
    .argument('<name>', 'schedule name')
    .option('--notebook [file]', 'take a new snapshot: of FILE, or of the schedule\'s notebook file as it is now')
    .option('--cron <expr>', HELP.cron)
    .option('--every <duration>', HELP.every)
    .option('--timezone <tz>', HELP.timezone)
    .option('-p, --parameters <name value>', 'set a parameter, papermill coercion; repeatable')
    .option('-r, --parameters-raw <name value>', 'set a parameter kept as a string; repeatable')
    .option('-f, --parameters-file <file>', 'YAML file of parameters; repeatable', collect, [])
    .option('-y, --parameters-yaml <yaml>', 'YAML string of parameters; repeatable', collect, [])
    .option('--reset-parameters', 'drop the current parameters first', false)
    .option('--kernel <name>', 'kernel name')
    .option('--output-dir <dir>', HELP.outputDir)
    .option('--cell-timeout <seconds>', 'fail a cell that runs longer', positiveSeconds('--cell-timeout'))
    .option('--timeout <seconds>', 'fail a run that takes longer', positiveSeconds('--timeout'))
    .option('--overlap <policy>', HELP.overlap)
    .option('--catchup-window <duration>', HELP.catchup)
    .option('--pause-on-failure', 'pause the schedule when a run fails')
    .option('--no-pause-on-failure', 'keep going when a run fails')
    .option('--note <text>', 'replace the note')
    .option('--notify-on <when>', HELP.notifyOn)
    .option('--notify-webhook <url>', HELP.notifyWebhook)
    .option('--no-notify', 'stop notifying')
    .option('--time-parameter <name>', HELP.timeParameter)
    .option('--date-parameter <name>', HELP.dateParameter)
    .option('--json', 'print the schedule as describe --json does', false)
    .action(async (name: string, opts) => {
      setExit(await (await load()).scheduleUpdate(name, { ...opts, ...params(opts) }));
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
