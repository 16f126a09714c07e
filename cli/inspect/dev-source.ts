/**
 * The inspector with a `millrace dev` running here: the run list is asked of dev (its
 * `inspect-runs` operation runs data.ts's listRuns with dev's client, cli/dev-server.ts),
 * so the first frame needs nothing of the Temporal client. The first list is asked before
 * Ink loads (cli/main.ts), and read while it does. What else the screens read (a run, its
 * history, the schedules) and the actions go through this process's own client, connected
 * when first needed. Kept light: nothing of Ink, React or Temporal.
 */
import { loadConfig, type Config } from '../config.js';
import { askDev } from '../dev-api.js';
import type { InspectSource, ListFilter } from './data.js';
import type { RunListEntry } from './view-model.js';

/** dev's operation (cli/dev-server.ts). */
export const INSPECT_RUNS = 'inspect-runs';

/** The list the run list asks for first: no filter, no search (cli/inspect/run-list.tsx). */
const firstFilter = (limit: number): ListFilter => ({ words: [], limit });
const filterKey = (f: ListFilter) => JSON.stringify([f.status ?? null, f.notebook ?? null, f.schedule ?? null, f.words ?? [], f.limit]);

export interface FirstList {
  config: Config;
  filter: ListFilter;
  runs: RunListEntry[];
}

/**
 * The first list as dev gives it, or undefined when no dev answers here (or anything went
 * wrong: the command then goes its usual way, which says what).
 */
export async function firstListThroughDev(limit: number): Promise<FirstList | undefined> {
  try {
    const config = loadConfig();
    const filter = firstFilter(limit);
    const runs = await askDev<RunListEntry[]>(config, INSPECT_RUNS, filter);
    return runs ? { config, filter, runs } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The source of an inspector that started from dev's list: lists through dev (through
 * `later` when dev no longer answers), everything else through `later`, the source of this
 * process's own session, opened on first use.
 */
export function devSource(first: FirstList, later: () => Promise<InspectSource>): InspectSource {
  let unread: FirstList | undefined = first;
  const take = (filter: ListFilter) => {
    const early = unread;
    unread = undefined;
    return early && filterKey(early.filter) === filterKey(filter) ? early.runs : undefined;
  };
  return {
    takeRead: take,
    async listRuns(filter) {
      return take(filter) ?? (await askDev<RunListEntry[]>(first.config, INSPECT_RUNS, filter)) ?? (await later()).listRuns(filter);
    },
    loadRun: async (runId) => (await later()).loadRun(runId),
    loadHistory: async (runId) => (await later()).loadHistory!(runId),
    listSchedules: async () => (await later()).listSchedules!(),
  };
}
