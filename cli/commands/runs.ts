/**
 * `millrace runs`: recent runs from Temporal visibility, newest first (cli/run-summaries.ts).
 * With a `millrace dev` here, dev checks the options and lists the runs: this process loads
 * neither zod nor the Temporal client (docs/architecture.md, "Start-up").
 */
import type { Config } from '../config.js';
import { askDev, devTarget } from '../dev-api.js';
import { EXIT } from '../errors.js';
import type { RunSummary } from '../run-summaries.js';
import type { Session } from '../session.js';
import { parametersText, table } from '../table.js';

/** The options as commander parsed them; checked by runFilterOf, here or in dev. */
export interface RunsOptions {
  status?: string;
  notebook?: string;
  schedule?: string;
  limit?: number;
  json?: boolean;
}

export async function runsCommand(options: RunsOptions): Promise<number> {
  const { json = false, ...filter } = options;
  const dev = devTarget(process.env, process.cwd());
  const listed = dev && (await askDev<RunSummary[]>(dev, 'runs', filter));
  if (dev && listed) return printRuns(listed, json, `${dev.stateDir} (millrace dev)`);
  const [{ listRuns, runFilterOf }, { loadConfig }, { READS_HISTORY, withSession }] = await Promise.all([
    import('../run-summaries.js'),
    import('../config.js'),
    import('../session.js'),
  ]);
  const checked = runFilterOf(filter);
  const config = loadConfig();
  // With TEMPORAL_ADDRESS or a Temporal profile set, whether a cluster or this directory's
  // dev comes first is the configuration's to say (devTarget).
  const listedByDev = dev ? undefined : await askDev<RunSummary[]>(config, 'runs', checked);
  if (listedByDev) return printRuns(listedByDev, json, stateRead('dev', config));
  return withSession({ needs: READS_HISTORY, json, config }, async (session) =>
    printRuns(await listRuns(session.client, checked), json, stateRead(session.mode, config)),
  );
}

function printRuns(runs: RunSummary[], json: boolean, state: string): number {
  // Which project's runs these are: state is found walking up from here (or MILLRACE_HOME).
  if (!json) process.stderr.write(`state: ${state}\n`);
  if (json) {
    process.stdout.write(`${JSON.stringify(runs)}\n`);
  } else if (runs.length === 0) {
    process.stdout.write('no runs\n');
  } else {
    process.stdout.write(
      table(
        ['RUN', 'STATUS', 'NOTEBOOK', 'STARTED', 'DURATION', 'PARAMETERS'],
        runs.map((r) => [r.run_id, r.notification_failed ? `${r.status}, notify failed` : r.status, r.notebook ?? '', r.started ?? '', r.duration_s === null ? '' : `${r.duration_s.toFixed(1)}s`, parametersText(r.parameters)]),
      ),
    );
  }
  return EXIT.ok;
}

/** The state `runs` read: the cluster's Temporal, else the state directory found. */
function stateRead(mode: Session['mode'], config: Config): string {
  if (mode === 'cluster') return `Temporal at ${config.temporalAddress} (namespace ${config.namespace})`;
  return mode === 'dev' ? `${config.stateDir} (millrace dev)` : config.stateDir;
}
