// Turning a cell's iopub messages into nbformat outputs the way nbclient 0.11 does
// (NotebookClient.process_message / output / clear_output / _update_display_id with
// nbformat's output_from_msg), as papermill runs it: coalesce_streams off, so every
// stream message is its own output.
//
// nbclient keeps a notebook-wide map display_id -> {cell index: [output index]} in
// memory. Cells here may run on different worker processes, so each cell carries its
// part of the map in metadata.millrace.display_ids and the map is rebuilt from the
// notebook when a cell starts.

import { cellMillrace, withDisplayIds } from './millrace-metadata.js';
import type { Cell, CodeCell, JsonObject, Notebook, Output } from './nbformat.js';
import { nbclientTimestamp } from './time.js';

export interface IopubMessage {
  header: { msg_type: string; date?: string; [k: string]: unknown };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  content: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  metadata?: any;
  parent_header?: unknown;
}

/** display_id -> output indices, for one cell. */
export type CellDisplayIds = Record<string, number[]>;
/** display_id -> cell index -> output indices. */
export type DisplayIdMap = Map<string, Map<number, number[]>>;

const TIMING_KEYS = {
  busy: 'iopub.status.busy',
  idle: 'iopub.status.idle',
  input: 'iopub.execute_input',
} as const;

export function cellDisplayIds(cell: Cell): CellDisplayIds {
  return cellMillrace(cell).display_ids ?? {};
}

/** Rebuild nbclient's _display_id_map from the cells' metadata. */
export function displayIdMapFromNotebook(nb: Notebook, exceptCell?: number): DisplayIdMap {
  const map: DisplayIdMap = new Map();
  nb.cells.forEach((cell, i) => {
    if (i === exceptCell || cell.cell_type !== 'code') return;
    for (const [id, indices] of Object.entries(cellDisplayIds(cell))) {
      if (!map.has(id)) map.set(id, new Map());
      map.get(id)!.set(i, [...indices]);
    }
  });
  return map;
}

/** nbformat.v4.output_from_msg; null for messages that are not outputs. */
export function outputFromMsg(msgType: string, content: JsonObject): Output | null {
  switch (msgType) {
    case 'execute_result':
      return {
        output_type: 'execute_result',
        metadata: (content.metadata as JsonObject) ?? {},
        data: (content.data as JsonObject) ?? {},
        execution_count: (content.execution_count as number | null) ?? null,
      };
    case 'stream':
      return { output_type: 'stream', name: content.name as string, text: content.text as string };
    case 'display_data':
      return {
        output_type: 'display_data',
        metadata: (content.metadata as JsonObject) ?? {},
        data: (content.data as JsonObject) ?? {},
      };
    case 'error':
      return {
        output_type: 'error',
        ename: content.ename as string,
        evalue: content.evalue as string,
        traceback: (content.traceback as string[]) ?? [],
      };
    default:
      return null;
  }
}

export interface ApplyResult {
  /** status: idle arrived: nbclient's CellExecutionComplete. */
  done: boolean;
  /** This cell's outputs changed. */
  outputsChanged: boolean;
  /** Indices of earlier cells whose outputs an update_display_data changed. */
  otherCellsChanged: number[];
}

/**
 * Collects one code cell's execution. Construct with the notebook as it stands
 * (earlier cells' outputs and display ids), feed every iopub message whose parent is
 * this execution to apply(), then applyTo() the notebook. The notebook passed in is
 * never modified.
 */
export class CellOutputCollector {
  /** This cell's outputs so far. */
  readonly outputs: Output[] = [];
  executionCount: number | null = null;
  /**
   * metadata.execution as nbclient records it. nbclient empties it when it sends the
   * cell, so cell() replaces the old value rather than merging.
   */
  readonly timing: Record<string, string> = {};
  private clearBeforeNextOutput = false;
  private readonly displayIds: DisplayIdMap;
  /** Earlier cells' outputs, copied on first update. */
  private readonly otherOutputs = new Map<number, Output[]>();

  constructor(
    private readonly nb: Notebook,
    readonly cellIndex: number,
    private readonly opts: { clock?: () => string } = {},
  ) {
    if (nb.cells[cellIndex]?.cell_type !== 'code') throw new RangeError(`cell ${cellIndex} is not a code cell`);
    // nbclient resets the cell's outputs when it sends it; entries for this cell from
    // an earlier attempt point at outputs that are gone.
    this.displayIds = displayIdMapFromNotebook(nb, cellIndex);
  }

  apply(msg: IopubMessage): ApplyResult {
    const msgType = msg.header.msg_type;
    const content: JsonObject = msg.content ?? {};
    const result: ApplyResult = { done: false, outputsChanged: false, otherCellsChanged: [] };
    const transient = content.transient as JsonObject | null | undefined;
    const displayId = transient ? (transient.display_id as string | undefined) : undefined;

    if (displayId && (msgType === 'execute_result' || msgType === 'display_data' || msgType === 'update_display_data')) {
      this.updateDisplayId(displayId, content, result);
    }
    if ('execution_count' in content) this.executionCount = content.execution_count as number | null;

    if (msgType === 'status') {
      const state = content.execution_state;
      if (state === 'idle') this.stamp(TIMING_KEYS.idle, msg);
      else if (state === 'busy') this.stamp(TIMING_KEYS.busy, msg);
    } else if (msgType === 'execute_input') this.stamp(TIMING_KEYS.input, msg);

    if (msgType === 'status') {
      if (content.execution_state === 'idle') result.done = true;
    } else if (msgType === 'clear_output') {
      if (content.wait) this.clearBeforeNextOutput = true;
      else {
        result.outputsChanged = this.outputs.length > 0;
        this.clearOwn();
      }
    } else if (msgType.startsWith('comm')) {
      // Widget comms: nbclient stores widget state; not supported here.
    } else if (msgType !== 'execute_input' && msgType !== 'update_display_data') {
      const out = outputFromMsg(msgType, content);
      if (out) {
        if (this.clearBeforeNextOutput) {
          this.clearOwn();
          this.clearBeforeNextOutput = false;
        }
        if (displayId) {
          if (!this.displayIds.has(displayId)) this.displayIds.set(displayId, new Map());
          const cellMap = this.displayIds.get(displayId)!;
          if (!cellMap.has(this.cellIndex)) cellMap.set(this.cellIndex, []);
          cellMap.get(this.cellIndex)!.push(this.outputs.length);
        }
        this.outputs.push(out);
        result.outputsChanged = true;
      }
    }
    return result;
  }

  private clearOwn(): void {
    this.outputs.length = 0;
    for (const cellMap of this.displayIds.values()) if (cellMap.has(this.cellIndex)) cellMap.set(this.cellIndex, []);
  }

  private stamp(key: string, msg: { header: { date?: string } }): void {
    const t = nbclientTimestamp(msg.header.date) ?? this.opts.clock?.();
    if (t !== undefined) this.timing[key] = t;
  }

  /** The shell channel's execute_reply arrived (nbclient records shell.execute_reply). */
  applyExecuteReply(reply: { header: { date?: string }; content?: { execution_count?: number | null } }): void {
    this.stamp('shell.execute_reply', reply);
  }

  /** nbclient _update_display_id: every output shown with this display_id gets the new data and metadata. */
  private updateDisplayId(displayId: string, content: JsonObject, result: ApplyResult): void {
    const cellMap = this.displayIds.get(displayId);
    if (!cellMap) return;
    const data = (content.data as JsonObject) ?? {};
    const metadata = (content.metadata as JsonObject) ?? {};
    for (const [cellIdx, indices] of cellMap) {
      const outputs = this.outputsOf(cellIdx);
      if (!outputs) continue;
      for (const i of indices) {
        const o = outputs[i];
        if (!o || (o.output_type !== 'display_data' && o.output_type !== 'execute_result')) continue;
        outputs[i] = { ...o, data, metadata };
        if (cellIdx === this.cellIndex) result.outputsChanged = true;
        else if (!result.otherCellsChanged.includes(cellIdx)) result.otherCellsChanged.push(cellIdx);
      }
    }
  }

  private outputsOf(cellIdx: number): Output[] | undefined {
    if (cellIdx === this.cellIndex) return this.outputs;
    let outs = this.otherOutputs.get(cellIdx);
    if (!outs) {
      const cell = this.nb.cells[cellIdx];
      if (cell?.cell_type !== 'code') return undefined;
      outs = [...cell.outputs];
      this.otherOutputs.set(cellIdx, outs);
    }
    return outs;
  }

  /** This cell's part of the display-id map, for metadata.millrace.display_ids. */
  ownDisplayIds(): CellDisplayIds {
    const own: CellDisplayIds = {};
    for (const [id, cellMap] of this.displayIds) {
      const indices = cellMap.get(this.cellIndex);
      if (indices && indices.length) own[id] = [...indices];
    }
    return own;
  }

  /** Earlier cells whose outputs were updated, with their new outputs. */
  updatedCells(): Map<number, Output[]> {
    return new Map(this.otherOutputs);
  }

  /** The cell as nbclient leaves it: outputs, execution_count, metadata.execution (plus the display ids). */
  cell(base: CodeCell = this.nb.cells[this.cellIndex] as CodeCell): CodeCell {
    const metadata = withDisplayIds({ ...base.metadata, execution: { ...this.timing } }, this.ownDisplayIds());
    return { ...base, metadata, outputs: [...this.outputs], execution_count: this.executionCount };
  }

  /** A new notebook with this cell's execution and any display updates to earlier cells applied. */
  applyTo(nb: Notebook = this.nb): Notebook {
    const cells = [...nb.cells];
    for (const [i, outs] of this.otherOutputs) {
      const c = cells[i];
      if (c?.cell_type === 'code') cells[i] = { ...c, outputs: [...outs] };
    }
    cells[this.cellIndex] = this.cell(nb.cells[this.cellIndex] as CodeCell);
    return { ...nb, cells };
  }
}
