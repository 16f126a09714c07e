/** The `millrace` command line (SPEC §3). */
import { Command, CommanderError, Option } from 'commander';
import { extractPairs, type PairOptions } from './argv.js';
import { EXIT, UserError } from './errors.js';
import { addJobOptions, addParameterOptions, addTimeoutOptions, cellIndex, jobArgs, durationSeconds, parameterArgs, positiveInt, positiveSeconds, translatorLanguage, wholeNumber } from './options.js';
import { addAllowOptions, addPlacementOptions, allowArgs, placementArgs } from './placement-options.js';
import { MILLRACE_VERSION } from '../notebook/version.js';
import { KERNEL_POOL_DEFAULT } from '../workflows/defaults.js';

export async function main(argv: string[]): Promise<number> {
  let pairs: ReturnType<typeof extractPairs>;
  try {
    pairs = extractPairs(argv.slice(2));
  } catch (err) {
    return reportError(err);
  }
  const exit = { code: EXIT.ok as number };
  const program = await commandLine(pairs, exit);
  try {
    if (pairs.parameters.length + pairs.raw.length > 0 && !['run', 'resume', 'schedule'].includes(pairs.rest[0] ?? '')) {
      throw new UserError('-p and -r are options of `millrace run`, `resume`, `schedule create` and `schedule update`');
    }
    await program.parseAsync(['node', 'millrace', ...pairs.rest]);
    return exit.code;
  } catch (err) {
    return reportError(err);
  }
}

/**
 * Every command, its options and its help; an action loads its command's module when it
 * runs, and leaves its exit code in `exit`. cli/bundle-help.ts walks it at build time.
 */
export async function commandLine(pairs: PairOptions, exit: { code: number }): Promise<Command> {
  const program = new Command('millrace')
    .description('Durable, resumable Jupyter notebook runs on Temporal')
    .version(MILLRACE_VERSION)
    .exitOverride()
    .showHelpAfterError('(add --help for usage)');

  const run = program
    .command('run')
    .description('run a notebook; -p/-r/-f/-y set parameters as papermill does')
    .argument('<notebook>', 'the .ipynb file to run: a path, s3://bucket/key or an https:// URL');
  addParameterOptions(run, {
    parameters: 'parameter, value coerced like papermill (True/False/None, int, float, else str); repeatable',
    raw: 'parameter, value kept as a string; repeatable',
    file: 'YAML file of parameters; repeatable',
    yaml: 'YAML string of parameters; repeatable',
  })
    .option('--kernel <name>', 'kernel name (default: the notebook\'s kernelspec, else python3)')
    .option('--output <path>', 'where to write the output notebook, a path or s3://bucket/key (default: the store, one folder per run)')
    .option('--id <run-id>', 'run id (default: <notebook>-<timestamp>-<random>)')
    .option('--cwd <dir>', "the kernel's working directory, resolved on the worker (default: the directory millrace run is called from, as papermill)");
  addJobOptions(run);
  addPlacementOptions(run);
  addTimeoutOptions(run, {
    cell: 'fail a cell that runs longer, interrupting the kernel',
    run: 'fail the run when it takes longer, interrupting the running cell',
  })
    .option('--execution-timeout <seconds>', "papermill's name for --cell-timeout", positiveSeconds('--execution-timeout'))
    // papermill's run flags, as papermill documents them (README "Coming from papermill").
    .option('--start-timeout <seconds>', 'fail the run when the kernel does not answer within this long of starting (papermill --start-timeout)', positiveSeconds('--start-timeout'), 60)
    .option('--prepare-only', 'write the parameterized notebook to --output without running it (papermill --prepare-only)', false)
    .option('--report-mode', 'hide the input of every code cell in the output notebook (papermill --report-mode)', false)
    .option('--inject-input-path', 'add the input notebook\'s path as the parameter PAPERMILL_INPUT_PATH', false)
    .option('--inject-output-path', 'add the output notebook\'s path as the parameter PAPERMILL_OUTPUT_PATH', false)
    .option('--inject-paths', 'both of the above', false)
    .option('--language <name>', 'language of the parameter translation (papermill --language): python only', translatorLanguage)
    .addOption(
      new Option('--on-kernel-loss <action>', 'when the kernel dies: fail the run, or restart it and replay earlier cells (up to 3 times)')
        .choices(['fail', 'restart'])
        .default('fail'),
    )
    .addOption(
      new Option('--on-failure <action>', 'when a cell fails: fail the run, or pause it with its kernel alive for `millrace retry|exec|skip|abort`')
        .choices(['fail', 'pause'])
        .default('fail'),
    )
    .option('--pause-timeout <duration>', 'how long a paused run waits for a repair before it fails (e.g. 30m, 2h; default 24h)', durationSeconds('--pause-timeout'))
    .option('--checkpoint', 'save the kernel namespace (dill) after each cell, or only after cells tagged checkpoint, for `resume --restore checkpoint`; Python kernels', false)
    .option('--detach', 'submit and return the run id without waiting (needs `millrace dev` or TEMPORAL_ADDRESS)', false)
    .option('--log-output', "print each cell's stdout and stderr on stderr as the cell runs (papermill --log-output)")
    .option('--progress-bar', 'show progress while the run goes: a status line on a terminal, else a line per finished cell (default: on unless --log-output)')
    .option('--no-progress-bar', 'no progress lines')
    .option('--json', 'print one JSON object: run_id, status, output, failed_cell, error, duration_s, warnings', false)
    .action(async (notebook: string, opts) => {
      const { runCommand } = await import('./commands/run.js');
      exit.code = await runCommand(notebook, {
        ...parameterArgs(pairs, opts),
        kernel: opts.kernel,
        output: opts.output,
        id: opts.id,
        cwd: opts.cwd,
        wrap: jobArgs(opts),
        placement: placementArgs(opts),
        cellTimeout: opts.cellTimeout ?? opts.executionTimeout,
        timeout: opts.timeout,
        onKernelLoss: opts.onKernelLoss,
        onFailure: opts.onFailure,
        pauseTimeout: opts.pauseTimeout,
        checkpoint: opts.checkpoint,
        reportMode: opts.reportMode,
        startTimeout: opts.startTimeout,
        prepareOnly: opts.prepareOnly,
        injectPaths: { input: opts.injectInputPath || opts.injectPaths, output: opts.injectOutputPath || opts.injectPaths },
        detach: opts.detach,
        json: opts.json,
        progressBar: opts.progressBar,
        logOutput: opts.logOutput,
      });
    });

  const resume = program
    .command('resume')
    .description('continue a failed or cancelled run in a new run, from its failed cell or --from-cell N')
    .argument('<run>', 'run id of the earlier run')
    .option('--from-cell <n>', 'start at this cell (the cells before keep their outputs, and are replayed or restored)', cellIndex);
  addParameterOptions(resume, {
    parameters: 'override a parameter (papermill coercion); the injected cell is regenerated',
    raw: 'override a parameter, kept as a string',
    file: 'YAML file of parameter overrides; repeatable',
    yaml: 'YAML string of parameter overrides; repeatable',
  })
    .addOption(
      new Option('--restore <how>', "how the kernel gets back the earlier cells' state: run them again, or load the checkpoint the earlier run saved (it needs `run --checkpoint`)")
        .choices(['replay', 'checkpoint'])
        .default('replay'),
    )
    .option('--id <run-id>', 'run id of the new run')
    .option('--detach', 'submit and return without waiting', false)
    .option('--json', 'print one JSON object, as `run --json`', false)
    .action(async (run: string, opts) => {
      const { resumeCommand } = await import('./commands/resume.js');
      exit.code = await resumeCommand(run, {
        ...parameterArgs(pairs, opts),
        fromCell: opts.fromCell,
        restore: opts.restore,
        id: opts.id,
        detach: opts.detach,
        json: opts.json,
      });
    });

  program
    .command('runs')
    .description('list recent runs')
    .addOption(new Option('--status <status>', 'only runs in this state').choices(['running', 'completed', 'failed', 'cancelled', 'paused']))
    .option('--notebook <name>', 'only runs of this notebook (file name)')
    .option('--schedule <name>', 'only runs of this schedule')
    .option('--limit <n>', 'at most this many runs', positiveInt, 20)
    .option('--json', 'JSON output', false)
    .action(async (opts) => {
      const { runsCommand } = await import('./commands/runs.js');
      exit.code = await runsCommand(opts);
    });

  program
    .command('show')
    .description('one run: status, per-cell status and timing, error, output location')
    .argument('<run>', 'run id')
    .option('--json', 'JSON output', false)
    .action(async (run: string, opts) => {
      const { showCommand } = await import('./commands/show.js');
      exit.code = await showCommand(run, opts);
    });

  program
    .command('inspect')
    .description('terminal inspector of run history: runs, their cells, outputs and tracebacks, history, schedules (needs a terminal)')
    .argument('[run]', 'open this run directly')
    .option('--limit <n>', 'runs in the list at first (reaching its end reads as many more)', positiveInt, 50)
    .addHelpText(
      'after',
      '\nKeys: ↑↓ or j/k move, Enter opens, / searches, s cycles the status filter, h shows a run\'s history,\n' +
        ':schedules (or any screen name) jumps, ? lists the keys of the screen, Esc goes back, q quits (docs/inspector.md).',
    )
    .action(async (run: string | undefined, opts) => {
      // A `millrace dev` here is asked for the run list while Ink loads (cli/inspect/dev-source.ts).
      const early = run === undefined ? import('./inspect/dev-source.js').then((m) => m.firstListThroughDev(opts.limit), () => undefined) : undefined;
      const { inspectCommand } = await importForTerminal(() => import('./commands/inspect.js'));
      exit.code = await inspectCommand(run, opts, early);
    });

  program
    .command('cancel')
    .description('cancel a running run: its kernel is interrupted and shut down')
    .argument('<run>', 'run id')
    .action(async (run: string) => {
      const { cancelCommand } = await import('./commands/cancel.js');
      exit.code = await cancelCommand(run);
    });

  const { addRepairCommands } = await import('./repair-cli.js');
  addRepairCommands(program, (code) => (exit.code = code));

  addJobOptions(
    program
      .command('wrap')
      .description('write the notebook a SQL job file or PySpark script runs as (`run FILE.sql|FILE.py` wraps on the fly)')
      .argument('<file>', 'the .sql file, or a PySpark .py script (cells at # %%)')
      .option('-o, --output <path>', 'where to write the notebook (default: FILE with .ipynb)'),
  ).action(async (file: string, opts) => {
    const { wrapCommand } = await import('./commands/wrap.js');
    exit.code = await wrapCommand(file, { output: opts.output, wrap: jobArgs(opts) });
  });

  program
    .command('params')
    .description("parameters inferred from the notebook's `parameters` cell (papermill --help-notebook)")
    .argument('<notebook>', 'the .ipynb file')
    .option('--json', 'JSON output', false)
    .action(async (notebook: string, opts) => {
      const { paramsCommand } = await import('./commands/params.js');
      exit.code = await paramsCommand(notebook, opts);
    });

  program
    .command('kernels')
    .description("the kernels `run --kernel` offers: your Jupyter's kernelspecs (JUPYTER_PATH, data dir, active virtualenv or conda env); python3 is your Python")
    .option('--json', 'JSON output', false)
    .action(async (opts) => {
      const { kernelsCommand } = await import('./commands/kernels.js');
      exit.code = await kernelsCommand(opts);
    });

  program
    .command('serve')
    .description('read-only viewer and Jupyter contents API over the store (token auth)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 = any free port)', '8780')
    .option('--no-auth', 'no token (loopback addresses only)')
    .option('--store <location>', 'store to serve (default MILLRACE_STORE, else <state>/store)')
    .action(async (opts) => {
      const { serveCommand } = await import('./commands/serve.js');
      exit.code = await serveCommand(opts);
    });

  program
    .command('metrics')
    .description("values recorded with scrapbook's glue() across runs, with parameters and cell durations")
    .option('--schedule <name>', 'only runs of this schedule')
    .option('--notebook <name>', 'only runs of this notebook (file name, with or without .ipynb)')
    .option('--since <time>', 'only runs started at or after this time (ISO 8601, or 30m, 12h, 7d ago)')
    .option('--until <time>', 'only runs started before this time (same forms)')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'csv', 'json']).default('text'))
    .option('--json', 'same as --format json', false)
    .option('--no-csv-escape', "csv: write cells starting with = + - @ as they are, without the leading ' that stops spreadsheets running them")
    .option('--store <location>', 'store to read (default MILLRACE_STORE, else <state>/store)')
    .action(async (opts) => {
      const { metricsCommand } = await import('./commands/metrics.js');
      exit.code = await metricsCommand(opts);
    });

  const { addScheduleCommands } = await import('./schedule-cli.js');
  addScheduleCommands(program, pairs, (code) => (exit.code = code));

  const dev = program
    .command('dev')
    .description('run the embedded stack (Temporal, Jupyter Server, worker) in the foreground')
    .option('--no-worker', 'leave the worker out; attach `millrace worker` processes instead')
    .option('--kernel-pool <n>', 'idle kernels kept started per kernel name and container shape, so runs do not wait for one', wholeNumber, KERNEL_POOL_DEFAULT)
    .option('--kernel-env <name>', 'an environment variable kernels get besides the defaults (a name or a glob like DB_*; repeatable; MILLRACE_KERNEL_ENV too)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--kernel-user <name>', 'run kernels as this user, who then cannot read the state directory or the store (needs root)');
  addAllowOptions(dev).action(async (opts) => {
    const { devCommand } = await import('./commands/dev.js');
    exit.code = await devCommand({ worker: opts.worker, kernelPool: opts.kernelPool, kernelEnv: opts.kernelEnv, kernelUser: opts.kernelUser, allow: allowArgs(opts) });
  });

  const worker = program
    .command('worker')
    .description('run a worker for TEMPORAL_ADDRESS (or the `millrace dev` stack here)')
    .option('--task-queue <queue>', 'task queue to poll (default MILLRACE_TASK_QUEUE or millrace)')
    .option('--jupyter-url <url>', 'Jupyter Server or Kernel Gateway URL (default MILLRACE_JUPYTER_URL)')
    .option('--max-concurrent-runs <n>', 'runs this worker has work slots for (default 20): its cells and workflow tasks at once; kernels of runs between slices are not counted', positiveInt)
    .option('--kernel-user <name>', "on Enterprise Gateway (--jupyter-url): the user its kernels start for, KERNEL_USERNAME (default: the gateway's own user)")
    .option('--kernel-pool <n>', 'idle kernels kept started per kernel name and container shape, so runs do not wait for one', wholeNumber, KERNEL_POOL_DEFAULT);
  addAllowOptions(worker).action(async (opts) => {
    const { workerCommand } = await import('./commands/worker.js');
    exit.code = await workerCommand({ ...opts, allow: allowArgs(opts) });
  });

  return program;
}

/** One line on stderr and the exit code that says what kind of failure it was. */
function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    return err.exitCode === 0 ? EXIT.ok : EXIT.badInput;
  }
  if (err instanceof UserError) {
    process.stderr.write(`millrace: ${err.message}\n`);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`millrace: unexpected error: ${message.split('\n')[0]}\n`);
  if (process.env['MILLRACE_DEBUG'] && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return EXIT.internal;
}

/**
 * Ink draws nothing until it exits when CI or CONTINUOUS_INTEGRATION is set (the is-in-ci
 * check, read once when Ink is imported). The inspector runs only on a terminal, where a
 * user who exports CI still expects a screen: Ink is loaded with those markers hidden, and
 * they are put back at once for everything else (the stack this command may start). Ink's
 * colour library reads FORCE_COLOR, not NO_COLOR, at the same moment: NO_COLOR is passed on.
 */
async function importForTerminal<T>(load: () => Promise<T>): Promise<T> {
  const markers = ['CI', 'CONTINUOUS_INTEGRATION'] as const;
  const saved = [...markers, 'FORCE_COLOR'].map((name) => [name, process.env[name]] as const);
  for (const name of markers) delete process.env[name];
  if (process.env['NO_COLOR']) process.env['FORCE_COLOR'] = '0';
  try {
    return await load();
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}
