/**
 * `millrace inspect`: the run list, and the runs opened from it, as a stack of screens.
 * Esc goes back one screen (on the list it does nothing); q or ctrl-c quits; ? lists the keys.
 */
import { useApp } from 'ink';
import { useState } from 'react';
import { RUN_ACTIONS, type RunAction } from './actions.js';
import type { InspectSource } from './data.js';
import { useTerminalSize } from './hooks.js';
import { RunList, type RunListState } from './run-list.js';
import { RunView } from './run-view.js';

export interface InspectAppProps {
  source: InspectSource;
  /** Opened directly (`millrace inspect RUN`); back from it shows the list. */
  initialRun?: string;
  /** Most runs in the list. */
  limit?: number;
  /** What the run view offers on a run (see actions.ts). */
  actions?: readonly RunAction[];
}

export function InspectApp({ source, initialRun, limit = 50, actions = RUN_ACTIONS }: InspectAppProps) {
  const { exit } = useApp();
  const { rows, columns } = useTerminalSize();
  const [opened, setOpened] = useState<string[]>(initialRun ? [initialRun] : []);
  const [list, setList] = useState<RunListState>({ filter: undefined, selected: initialRun ?? null });
  const height = rows - 1;

  const open = (runId: string) => setOpened((stack) => [...stack, runId]);
  const back = () => setOpened((stack) => stack.slice(0, -1));
  const current = opened[opened.length - 1];

  if (current !== undefined) {
    // Keyed by position and id: a run opened from another gets fresh state.
    return <RunView key={`${opened.length}:${current}`} source={source} runId={current} height={height} columns={columns} actions={actions} onOpen={open} onBack={back} onQuit={() => exit()} />;
  }
  return <RunList source={source} limit={limit} height={height} columns={columns} state={list} onState={setList} onOpen={open} onQuit={() => exit()} />;
}
