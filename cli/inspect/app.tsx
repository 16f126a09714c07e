/**
 * `millrace inspect`: the run list, and the screens opened from it, as a stack. Esc goes
 * back one screen (on the list it does nothing); q or ctrl-c quits; ? lists the keys; `:`
 * jumps to a screen by name, as in k9s (`:runs`, `:history`, `:schedules`, any prefix).
 */
import { Box, Text, useApp, useInput, type Key } from 'ink';
import { useMemo, useRef, useState } from 'react';
import { RUN_ACTIONS, type RunAction } from './actions.js';
import type { InspectSource } from './data.js';
import { KeyRouterContext, keypresses, useTerminalSize, type KeyHandler, type KeyRouter } from './hooks.js';
import { editLine } from './line-input.js';
import { HistoryView } from './history-view.js';
import { RunList, type RunListState } from './run-list.js';
import { RunView } from './run-view.js';
import { SchedulesView, type ScheduleActions } from './schedules-view.js';

export interface InspectAppProps {
  source: InspectSource;
  /** Opened directly (`millrace inspect RUN`); back from it shows the list. */
  initialRun?: string;
  /** Runs in the list at first (reaching its end reads as many more). */
  limit?: number;
  /** What the run view offers on a run (see actions.ts). */
  actions?: readonly RunAction[];
  /** What the Schedules screen does to a schedule; without them it only shows them. */
  scheduleActions?: ScheduleActions;
}

/** A screen above the list. */
export type Screen = { kind: 'run'; runId: string } | { kind: 'history'; runId: string } | { kind: 'schedules' };

/** The screens `:` goes to, by name (a prefix will do). */
export const SCREEN_NAMES = ['runs', 'history', 'schedules'] as const;

/**
 * The stack `:name` leaves from `stack`, or why not: `runs` is the list; `history` the
 * history of the run on screen (or of `selectedRun`, the list's); `schedules` goes on top.
 */
export function jump(name: string, stack: readonly Screen[], selectedRun: string | null = null): { stack: Screen[] } | { error: string } {
  const wanted = name.trim().toLowerCase();
  const match = wanted ? SCREEN_NAMES.find((n) => n.startsWith(wanted)) : undefined;
  if (!match) return { error: `no screen ${JSON.stringify(name.trim())}: one of ${SCREEN_NAMES.join(', ')}` };
  if (match === 'runs') return { stack: [] };
  if (match === 'schedules') return { stack: [...stack.filter((s) => s.kind !== 'schedules'), { kind: 'schedules' }] };
  const top = stack[stack.length - 1];
  const runId = top && top.kind !== 'schedules' ? top.runId : stack.length === 0 ? selectedRun : null;
  if (!runId) return { error: 'history: open a run first (or select one in the list)' };
  if (top?.kind === 'history') return { stack: [...stack] };
  return { stack: [...stack, { kind: 'history', runId }] };
}

export function InspectApp({ source, initialRun, limit = 50, actions = RUN_ACTIONS, scheduleActions }: InspectAppProps) {
  const { exit } = useApp();
  const { rows, columns } = useTerminalSize();
  const [stack, setStack] = useState<Screen[]>(initialRun ? [{ kind: 'run', runId: initialRun }] : []);
  const [list, setList] = useState<RunListState>({ filter: undefined, search: '', selected: initialRun ?? null });
  const [command, setCommandState] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  // Mirrored in a ref: the presses after `:` in one input event already go to the command line.
  const commandRef = useRef(command);
  const setCommand = (text: string | null) => {
    commandRef.current = text;
    setCommandState(text);
  };
  const router = useMemo<KeyRouter>(() => ({ screen: { current: null }, typing: { current: false } }), []);
  const stackRef = useRef(stack);
  stackRef.current = stack;
  /** The run under the list's cursor, as the list last drew it. */
  const listRun = useRef<string | null>(null);

  const onPress = (input: string, key: Key) => {
    if (commandRef.current !== null) {
      const edit = editLine(commandRef.current, input, key);
      if ('text' in edit) return setCommand(edit.text);
      setCommand(null);
      if (!('done' in edit) || edit.done.trim() === '') return;
      if (/^q(uit)?$/.test(edit.done.trim())) return exit();
      const to = jump(edit.done, stackRef.current, listRun.current);
      if ('error' in to) return setNotice(to.error);
      stackRef.current = to.stack;
      setStack(to.stack);
      return;
    }
    if (input === ':' && !router.typing.current) {
      setNotice(null);
      return setCommand('');
    }
    router.screen.current?.(input, key);
  };
  const handler = useRef<KeyHandler>(onPress);
  handler.current = onPress;
  const stable = useMemo(() => (input: string, key: Key) => {
    for (const [one, oneKey] of keypresses(input, key)) handler.current(one, oneKey);
  }, []);
  useInput(stable);

  const push = (screen: Screen) =>
    setStack((s) => {
      const next = [...s, screen];
      stackRef.current = next;
      return next;
    });
  const back = () =>
    setStack((s) => {
      const next = s.slice(0, -1);
      stackRef.current = next;
      return next;
    });
  const bar = command !== null ? `:${command}▏` : notice;
  const height = rows - 1 - (bar === null ? 0 : 1);
  const current = stack[stack.length - 1];

  let screen;
  if (current?.kind === 'run') {
    // Keyed by position and id: a run opened from another gets fresh state.
    screen = <RunView key={`${stack.length}:${current.runId}`} source={source} runId={current.runId} height={height} columns={columns} actions={actions} onOpen={(runId) => push({ kind: 'run', runId })} onHistory={(runId) => push({ kind: 'history', runId })} onBack={back} onQuit={() => exit()} />;
  } else if (current?.kind === 'history') {
    screen = <HistoryView key={`${stack.length}:${current.runId}`} source={source} runId={current.runId} height={height} columns={columns} onBack={back} onQuit={() => exit()} />;
  } else if (current?.kind === 'schedules') {
    const runsOf = (schedule: string) => {
      // The list of the schedule's runs: the list screen, searched for it.
      setList((l) => ({ ...l, search: `schedule:${schedule}`, selected: null }));
      stackRef.current = [];
      setStack([]);
    };
    screen = <SchedulesView source={source} actions={scheduleActions} height={height} columns={columns} onRuns={runsOf} onBack={back} onQuit={() => exit()} />;
  } else {
    screen = <RunList source={source} limit={limit} height={height} columns={columns} state={list} onState={setList} onOpen={(runId) => push({ kind: 'run', runId })} onHistory={(runId) => push({ kind: 'history', runId })} onQuit={() => exit()} shown={listRun} />;
  }
  return (
    <KeyRouterContext.Provider value={router}>
      <Box flexDirection="column">
        {screen}
        {bar === null ? null : <Text color={command === null ? 'yellow' : undefined} wrap="truncate-end">{bar}</Text>}
      </Box>
    </KeyRouterContext.Provider>
  );
}
