/**
 * One run: its header, a table of its cells, and the selected cell's source and outputs.
 * The failed cell (or a paused run's) is selected when the run opens; a live run is read
 * again every second. Actions (actions.ts) run on their keys, one at a time.
 */
import { Box, Text, type Key } from 'ink';
import { useCallback, useRef, useState } from 'react';
import type { ActionOutcome, RunAction, RunActionContext } from './actions.js';
import { CellDetail } from './cell-detail.js';
import { CellTable } from './cell-table.js';
import { RunNotFound, type InspectSource } from './data.js';
import { HelpOverlay, useHelp, type KeyHelp } from './help.js';
import { editorName, movement, useKeys, usePolling, useTerminalProgram } from './hooks.js';
import { editLine } from './line-input.js';
import type { ResumeForm } from './resume-form.js';

/** The resume form's code (and the YAML and parameter modules it loads) loads when a form opens, not before the first frame. */
type FormCode = typeof import('./resume-form.js');
import { RunHeader } from './run-header.js';
import { wrapToWidth } from './terminal-text.js';
import { cellDetailLines, cellRows, clamp, initialCellPosition, isLive, resumedFrom, runHeader, type DetailLine } from './view-model.js';

const LIVE_REFRESH_MS = 1000;

type Dialog = { kind: 'form'; action: RunAction; form: ResumeForm; code: FormCode } | { kind: 'line'; action: RunAction; text: string };
const RETRY_MS = 2000;

interface Props {
  source: InspectSource;
  runId: string;
  height: number;
  columns: number;
  actions: readonly RunAction[];
  onOpen(runId: string): void;
  /** `h`: the run's History screen. */
  onHistory?(runId: string): void;
  onBack(): void;
  onQuit(): void;
}

const CELL_KEYS: readonly KeyHelp[] = [
  { keys: '↑↓  j k', does: 'previous, next cell' },
  { keys: 'pgup pgdn  g G', does: 'page, first, last cell' },
  { keys: 'enter  →  tab', does: 'show the cell\'s source and outputs' },
  { keys: 'h', does: 'the run\'s history (its Temporal events)' },
  { keys: 'esc  ←', does: 'back' },
  { keys: ':', does: 'go to a screen: runs, schedules, history' },
];
const DETAIL_KEYS: readonly KeyHelp[] = [
  { keys: '↑↓  j k', does: 'scroll a line' },
  { keys: 'pgup pgdn  space', does: 'scroll a page' },
  { keys: 'g G', does: 'top, end' },
  { keys: 'esc  ←  enter  tab', does: 'back to the cells' },
];

export function RunView({ source, runId, height, columns, actions, onOpen, onHistory, onBack, onQuit }: Props) {
  const load = useCallback(() => source.loadRun(runId), [source, runId]);
  const { data, error, reload } = usePolling(
    load,
    (d, err) => (err instanceof RunNotFound ? null : err ? RETRY_MS : d && isLive(d.summary.status) ? LIVE_REFRESH_MS : null),
    runId,
  );
  /** The cell the user moved to; until then the failed (or running) cell, following a live run. */
  const [chosen, setChosen] = useState<number | null>(null);
  // Mirrored in a ref: an action's key right after a move acts on the cell moved to.
  const chosenRef = useRef(chosen);
  const [focus, setFocusState] = useState<'cells' | 'detail'>('cells');
  // Mirrored in a ref so that the key after Enter or Esc already goes to the new focus.
  const focusRef = useRef(focus);
  const setFocus = (f: 'cells' | 'detail') => {
    focusRef.current = f;
    setFocusState(f);
    if (f === 'cells') setPrinted(null);
  };
  const [offset, setOffset] = useState(0);
  const [message, setMessage] = useState<string | null>(null);
  /** The action that asked for confirmation: `y` next runs it. */
  const armed = useRef<RunAction | null>(null);
  const help = useHelp();
  /** One action at a time: a paused run refuses a second repair while one is in progress. */
  const busy = useRef(false);
  /**
   * An action asking for more than a yes: resume's form, or a line (exec's code). Mirrored
   * in a ref, so that the keys after `u` or `!` in one input already go to it.
   */
  const [dialog, setDialogState] = useState<Dialog | null>(null);
  const dialogRef = useRef(dialog);
  const setDialog = (d: Dialog | null) => {
    dialogRef.current = d;
    setDialogState(d);
  };
  /** What an action printed (scratch code), in the detail pane until Esc goes back to the cells. */
  const [printed, setPrinted] = useState<{ title: string; text: string } | null>(null);

  const rows = data ? cellRows(data.notebook, data.progress) : [];
  const position = clamp(chosen ?? initialCellPosition(rows, data?.failure?.failed_cell ?? data?.progress?.paused?.cell ?? null), rows.length);

  const header = data ? runHeader(data, new Date()) : [];
  const row = rows[position];
  // Wrapped here, to the pane's width, so each line is one row: Ink's own wrapping would
  // grow the pane past its height and push its first line off the screen.
  const detailLines: DetailLine[] = printed
    ? [{ text: `── ${printed.title} ──`, tone: 'heading' }, ...printed.text.replace(/\n$/, '').split('\n').map((text): DetailLine => ({ text, tone: 'stdout' }))]
    : row && data
      ? cellDetailLines(data.notebook?.cells[row.index])
      : [];
  const lines = detailLines.flatMap((line) => wrapToWidth(line.text, columns).map((text) => ({ ...line, text })));
  const available = actions.filter((a) => data && a.appliesTo(data.summary));

  // Rows: header, then table (header + rows) and the detail title, the detail, a footer line.
  const footerHeight = dialog?.kind === 'form' ? 2 : 1;
  const body = Math.max(4, height - header.length - 1 - footerHeight);
  const tableHeight = focus === 'detail' ? 0 : Math.min(rows.length, Math.max(3, Math.floor(body * 0.4)));
  const detailHeight = Math.max(1, body - (focus === 'detail' ? 0 : tableHeight + 1) - 1);
  const maxOffset = Math.max(0, lines.length - detailHeight);
  const shown = Math.min(offset, maxOffset);

  // Updates from the latest state, not this render's: keys typed faster than frames all count.
  const select = (to: (at: number) => number) => {
    const next = clamp(to(chosenRef.current ?? position), rows.length);
    chosenRef.current = next;
    setChosen(next);
    setOffset(0);
  };
  /** The selected cell as the keys so far left it (`jv`: the cell `j` moved to). */
  const selectedRow = () => (chosenRef.current === null ? row : rows[clamp(chosenRef.current, rows.length)]);
  const scroll = (to: (at: number) => number) => setOffset((at) => Math.max(0, Math.min(to(at), maxOffset)));

  const runOnTerminal = useTerminalProgram();
  const context = (): RunActionContext => ({ runId, cellIndex: selectedRow()?.index ?? null, detail: data, runOnTerminal });
  const perform = (action: RunAction, more: Partial<RunActionContext> = {}) => {
    busy.current = true;
    setMessage(`${action.label}…`);
    action
      .perform({ ...context(), ...more })
      .then(
        (outcome: ActionOutcome) => {
          setMessage(typeof outcome === 'string' ? outcome : outcome.line);
          if (typeof outcome === 'string') return;
          if (outcome.output) {
            setPrinted(outcome.output);
            setOffset(0);
            setFocus('detail');
          }
          if (outcome.open) onOpen(outcome.open);
        },
        (err: unknown) => setMessage(`${action.label} failed: ${(err as Error).message.split('\n')[0]}`),
      )
      .finally(() => {
        busy.current = false;
        reload();
      });
  };

  const openForm = (action: RunAction) => {
    busy.current = true;
    setMessage(`${action.label}: reading the run's parameters…`);
    Promise.all([action.form!(context()), import('./resume-form.js')])
      .then(
        ([offer, code]) => {
          setMessage(null);
          setDialog({ kind: 'form', action, form: code.resumeForm(runId, offer), code });
        },
        (err: unknown) => setMessage(`${action.label} failed: ${(err as Error).message.split('\n')[0]}`),
      )
      .finally(() => {
        busy.current = false;
      });
  };

  /** A key while the resume form or a line is open: the cursor keys still choose the cell. */
  const dialogKey = (open: Dialog, input: string, key: Key) => {
    if (open.kind === 'line') {
      const edit = editLine(open.text, input, key);
      if ('text' in edit) return setDialog({ ...open, text: edit.text });
      setDialog(null);
      if ('done' in edit && edit.done.trim()) perform(open.action, { text: edit.done });
      return;
    }
    const to = open.form.typing === null ? movement(input, key, tableHeight, rows.length - 1) : undefined;
    if (to) return select(to);
    const step = open.code.resumeFormKey(open.form, input, key);
    if ('cancel' in step) return setDialog(null);
    if ('submit' in step) {
      setDialog(null);
      return perform(open.action, { resume: { restore: step.submit.restore, overrides: step.submit.overrides } });
    }
    if ('form' in step) return setDialog({ ...open, form: step.form });
    void open.code.editParameters(step.editParameters, editorName(), runOnTerminal).then((form) => {
      if (dialogRef.current === open) setDialog({ ...open, form });
    });
  };

  useKeys((input, key) => {
    // `y` runs the action that asked; any other key takes the question back.
    const confirming = armed.current;
    armed.current = null;
    if (confirming !== null) {
      if (input === 'y' && !busy.current) perform(confirming);
      else setMessage(null);
      return;
    }
    const open = dialogRef.current;
    if (open) return dialogKey(open, input, key);
    if (input === 'q') return onQuit();
    if (help.keyWhileShown(input, key)) return;
    if (input === '?') return help.show();
    if (input === 'r') return reload();
    if (focusRef.current === 'detail') {
      // Space pages down, as in a pager.
      const to = input === ' ' ? (at: number) => at + detailHeight : movement(input, key, detailHeight, maxOffset);
      if (key.escape || key.leftArrow || key.tab || key.return) setFocus('cells');
      else if (to) scroll(to);
      return;
    }
    const to = movement(input, key, tableHeight, rows.length - 1);
    if (key.escape || key.leftArrow) onBack();
    else if (to) select(to);
    else if ((key.return || key.rightArrow || key.tab) && row) setFocus('detail');
    else if (input === 'f' && data && resumedFrom(data)) onOpen(resumedFrom(data)!.run_id);
    else if (input === 'h' && onHistory) onHistory(runId);
    else if (input === 'a' && data && data.resumedAs.length > 0) onOpen(data.resumedAs[data.resumedAs.length - 1]!.run_id);
    else {
      const action = available.find((a) => a.key === input);
      if (!action || busy.current) return;
      if (action.form) return openForm(action);
      if (action.line) return setDialog({ kind: 'line', action, text: '' });
      if (action.confirm) {
        armed.current = action;
        setMessage(typeof action.confirm === 'string' ? action.confirm : action.confirm(context()));
        return;
      }
      perform(action);
    }
  });

  if (!data) {
    return (
      <Box flexDirection="column">
        <Text bold>{runId}</Text>
        {error ? <Text color="red">{error.message.split('\n')[0]}</Text> : <Text dimColor>loading…</Text>}
        <Text dimColor>esc back · q quit</Text>
      </Box>
    );
  }

  if (help.shown) {
    const actionKeys = [
      ...(resumedFrom(data) ? [{ keys: 'f', does: 'open the run this one resumed' }] : []),
      ...(data.resumedAs.length > 0 ? [{ keys: 'a', does: 'open the run that resumed this one' }] : []),
      ...available.map((a) => ({ keys: a.confirm ? `${a.key} then y` : a.key, does: a.label })),
    ];
    return <HelpOverlay screen={focus === 'detail' ? 'run · cell' : 'run'} keys={[...(focus === 'detail' ? DETAIL_KEYS : CELL_KEYS), ...actionKeys]} height={height} />;
  }

  const keys =
    focus === 'detail'
      ? '↑↓/jk scroll · pgup/pgdn page · g/G top/end · esc back to cells · ? help'
      : [
          '↑↓/jk cell · enter show cell · h history · esc back · ? help',
          resumedFrom(data) ? 'f resumed from' : '',
          data.resumedAs.length > 0 ? 'a resumed as' : '',
          ...available.map((a) => `${a.key} ${a.label}`),
        ]
          .filter(Boolean)
          .join(' · ');

  return (
    <Box flexDirection="column">
      <RunHeader fields={header} />
      {focus === 'cells' && rows.length > 0 ? <CellTable rows={rows} position={position} height={tableHeight} columns={columns} /> : null}
      {row ? (
        <Text bold wrap="truncate-end">
          {`cell ${row.index} · ${row.status}`}
          <Text dimColor>{lines.length > detailHeight ? ` · lines ${shown + 1}-${Math.min(lines.length, shown + detailHeight)} of ${lines.length}` : ''}</Text>
        </Text>
      ) : (
        <Text dimColor>no cells recorded yet</Text>
      )}
      <CellDetail lines={lines} offset={shown} height={detailHeight} />
      {error ? <Text color="red" wrap="truncate-end">refresh failed: {error.message.split('\n')[0]}</Text> : null}
      {dialog?.kind === 'form' ? (
        dialog.code.formLines(dialog.form, row?.index ?? null).map((line, i) => (
          <Text key={i} wrap="truncate-end" color={i === 1 && dialog.form.problem ? 'red' : undefined} bold={i === 0}>
            {line}
          </Text>
        ))
      ) : dialog?.kind === 'line' ? (
        <Text wrap="truncate-end">{`${typeof dialog.action.line === 'string' ? dialog.action.line : dialog.action.line!(context())}${dialog.text}▏`}</Text>
      ) : (
        <Text dimColor wrap="truncate-end">{message ?? keys}</Text>
      )}
    </Box>
  );
}
