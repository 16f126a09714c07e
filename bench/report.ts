/** results.md from the results of bench/run.ts. */
import { median } from './notebooks.js';
import type { Engine, Results, SizeResult } from './run.js';

const s = (ms: number | undefined | null) => (ms === undefined || ms === null || !Number.isFinite(ms) ? '–' : `${(ms / 1000).toFixed(2)} s`);
const ms = (v: number | undefined | null, digits = 1) => (v === undefined || v === null || !Number.isFinite(v) ? '–' : `${v.toFixed(digits)} ms`);
const x = (v: number | undefined | null) => (v === undefined || v === null || !Number.isFinite(v) ? '–' : `${v.toFixed(2)}×`);
const kb = (v: number | undefined | null) => (v === undefined || v === null || !Number.isFinite(v) ? '–' : `${(v / 1024).toFixed(2)} KiB`);
const mib = (v: number | undefined | null) => (v === undefined || v === null || !Number.isFinite(v) ? '–' : `${v.toFixed(0)} MiB`);

function engine(size: SizeResult | undefined, e: Engine) {
  return size?.engines[e];
}

interface Verdict {
  target: string;
  measured: string;
  verdict: string;
}

export function targets(r: Results): Verdict[] {
  const out: Verdict[] = [];
  const at100 = r.sizes.find((z) => z.cells === 100);
  const warm = engine(at100, 'millrace-warm');
  const cli = engine(at100, 'papermill-cli');
  const inproc = engine(at100, 'papermill-inprocess');
  if (warm && cli) {
    const ratio = warm.medianWallMs / cli.medianWallMs;
    const met = ratio <= 0.6;
    out.push({
      target: '100 trivial cells, warm worker: wall time ≤ 0.6 × papermill',
      measured: `millrace warm ${s(warm.medianWallMs)} / papermill CLI ${s(cli.medianWallMs)} = ${x(ratio)}${
        inproc ? `; against papermill in-process (no imports) ${s(inproc.medianWallMs)}: ${x(warm.medianWallMs / inproc.medianWallMs)}` : ''
      }`,
      verdict: met
        ? `**met** (${x(ratio)})`
        : `**missed**: ${x(ratio)}; needs ≤ ${s(0.6 * cli.medianWallMs)}, ${s(warm.medianWallMs - 0.6 * cli.medianWallMs)} too slow (${ms((warm.medianWallMs - 0.6 * cli.medianWallMs) / 100)} per cell)`,
    });
  }
  if (warm && cli) {
    // SPEC: overhead = total minus kernel execution, per cell; papermill as its users run it.
    const m = warm.medianOverheadTotalMs;
    const p = cli.medianOverheadTotalMs;
    const at500 = r.sizes.find((z) => z.cells === 500);
    const w5 = engine(at500, 'millrace-warm')?.medianOverheadTotalMs;
    const p5 = engine(at500, 'papermill-cli')?.medianOverheadTotalMs;
    const at10 = r.sizes.find((z) => z.cells === 10);
    const w10 = engine(at10, 'millrace-warm')?.medianOverheadTotalMs;
    const p10 = engine(at10, 'papermill-cli')?.medianOverheadTotalMs;
    out.push({
      target: 'orchestration overhead per cell (total − kernel execution) ≤ papermill’s',
      measured:
        `100 cells: millrace warm ${ms(m)} vs papermill CLI ${ms(p)} per cell` +
        (inproc ? ` (in-process ${ms(inproc.medianOverheadTotalMs)})` : '') +
        (w10 != null && p10 != null ? `; 10 cells: ${ms(w10)} vs ${ms(p10)}` : '') +
        (w5 != null && p5 != null ? `; 500 cells: ${ms(w5)} vs ${ms(p5)}` : '') +
        (warm.medianOverheadLoopMs != null && cli.medianOverheadLoopMs != null
          ? `. Cell-to-cell (loop) part at 100 cells: ${ms(warm.medianOverheadLoopMs)} vs ${ms(cli.medianOverheadLoopMs)}${inproc?.medianOverheadLoopMs != null ? ` (in-process ${ms(inproc.medianOverheadLoopMs)})` : ''}`
          : ''),
      verdict: m <= p ? `**met** at 100 cells (${x(m / p)})` : `**missed** at 100 cells: ${ms(m - p)} per cell over (${x(m / p)})`,
    });
  }
  const c = r.concurrency;
  if (c?.millrace && c.papermill) {
    const ratio = c.millrace.makespanMs / c.papermill.makespanMs;
    out.push({
      target: `${c.runs} concurrent runs: makespan ≤ 0.5 × ${c.runs} papermill processes`,
      measured: `millrace ${s(c.millrace.makespanMs)} / papermill ${s(c.papermill.makespanMs)} = ${x(ratio)}; memory: worker ${mib(c.millrace.workerPeakRssMiB)} + Jupyter Server and kernels ${mib(c.millrace.jupyterPeakRssMiB)} + Temporal ${mib(c.millrace.temporalPeakRssMiB)} vs papermill ${mib(c.papermill.peakRssMiB)}`,
      verdict: ratio <= 0.5 ? `**met** (${x(ratio)})` : `**missed**: ${x(ratio)}; needs ≤ ${s(0.5 * c.papermill.makespanMs)}, ${s(c.millrace.makespanMs - 0.5 * c.papermill.makespanMs)} too slow`,
    });
  }
  const tiny = r.history.find((h) => h.kind.startsWith('tiny'));
  const big = r.history.find((h) => h.kind.startsWith('1 MB'));
  if (tiny && big) {
    // Slices come with cell time (1 MB cells take longer), not with output: left out of the comparison.
    const perCell = (h: typeof tiny) => (h.jsonBytes - (h.sliceJsonBytes ?? 0)) / h.cells;
    const ratio = perCell(big) / perCell(tiny);
    const sliced = (tiny.slices ?? 0) + (big.slices ?? 0) > 0;
    out.push({
      target: 'history bytes per cell reported; independent of output size',
      measured: `${kb(tiny.jsonBytesPerCell)}/cell with tiny outputs, ${kb(big.jsonBytesPerCell)}/cell with 1 MB outputs (JSON; protobuf ${kb(tiny.protoBytesPerCell)} and ${kb(big.protoBytesPerCell)})${sliced ? `; without workflow-task slices (${tiny.slices} and ${big.slices}, which come with cell time) ${kb(perCell(tiny))} and ${kb(perCell(big))}` : ''}`,
      verdict: Math.abs(ratio - 1) <= 0.05 ? `**met** (${x(ratio)})` : `**missed**: ${x(ratio)}`,
    });
  }
  return out;
}

export function renderMarkdown(r: Results): string {
  const lines: string[] = [];
  const add = (...l: string[]) => lines.push(...l);
  const m = r.machine;
  add(
    '# millrace against papermill',
    '',
    `Measured ${r.startedAt} in ${r.durationS} s by \`bench/run.sh\` (\`node dist/bench/run.js${r.options.quick ? ' --quick' : ''}\`).`,
    '',
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB; ${m.os}; Node ${m.node}; Python ${m.python}; papermill ${m.papermill}; ipykernel ${m.ipykernel}; Jupyter Server ${m.jupyterServer}; ${m.temporal.replace(/\n/g, ' ')}.`,
    `Warm and papermill figures are medians of ${r.options.reps} runs (${r.options.repsLarge} for notebooks over 100 cells); cold figures are single runs. Kernel: python3 for both, with an IPython directory of the benchmark's own (IPYTHONDIR), so other users' kernels cannot hold its history database. Each path had one untimed warm-up run.`,
    '',
  );
  const busy = Object.entries(r.load).filter(([, l]) => l.foreignCores >= 0.3);
  if (busy.length > 0) {
    add(
      `> **Load from other processes** during: ${busy.map(([name, l]) => `${name} (${l.foreignCores} cores)`).join(', ')}. ` +
        'Latencies on a shared 2-core machine grow with it; compare within one run only.',
      '',
    );
  }
  add('## Targets (SPEC §6)', '', '| target | measured | verdict |', '|---|---|---|');
  for (const t of targets(r)) add(`| ${t.target} | ${t.measured} | ${t.verdict} |`);
  add('');

  add(
    '## 1. Wall time, submit to final output notebook',
    '',
    '| cells | papermill CLI | papermill in-process | millrace warm | warm / CLI | warm / in-process | millrace cold | cold / CLI |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const z of r.sizes) {
    const cli = engine(z, 'papermill-cli')?.medianWallMs;
    const inp = engine(z, 'papermill-inprocess')?.medianWallMs;
    const warm = engine(z, 'millrace-warm')?.medianWallMs;
    const cold = engine(z, 'millrace-cold')?.medianWallMs;
    add(
      `| ${z.cells} | ${s(cli)} | ${s(inp)} | ${s(warm)} | ${x(warm !== undefined && cli ? warm / cli : null)} | ${x(warm !== undefined && inp ? warm / inp : null)} | ${s(cold)} | ${x(cold !== undefined && cli ? cold / cli : null)} |`,
    );
  }
  add(
    '',
    `papermill CLI is \`python -m papermill -k python3 --no-progress-bar\` (process start, imports, kernel start, run, kernel shutdown); in-process is \`papermill.execute_notebook\` timed inside one Python process after \`import papermill\` (${ms(r.papermillImportMs, 0)}), still starting a kernel per run. millrace warm: stack and worker up, timed from building the run input (snapshot) to the workflow result; cold: the whole \`bin/millrace.js run\` with a fresh state directory (starts Temporal and Jupyter Server).`,
    '',
  );

  add(
    '## 2. Orchestration overhead per cell',
    '',
    'Kernel time is Σ over cells of `shell.execute_reply − iopub.execute_input` from the output notebooks. *Total* = (wall − kernel) / cells, including start-up and shutdown; *loop* = (first cell’s execute_input to last cell’s execute_reply − kernel) / (cells − 1), the cost of moving from one cell to the next.',
    '',
    '| cells | engine | Σ kernel | overhead/cell (total) | overhead/cell (loop) |',
    '|---:|---|---:|---:|---:|',
  );
  for (const z of r.sizes) {
    for (const e of ['papermill-cli', 'papermill-inprocess', 'millrace-warm', 'millrace-cold'] as Engine[]) {
      const v = engine(z, e);
      if (!v) continue;
      add(`| ${z.cells} | ${e} | ${ms(v.medianKernelMs, 0)} | ${ms(v.medianOverheadTotalMs)} | ${ms(v.medianOverheadLoopMs)} |`);
    }
  }
  add('');

  const c = r.concurrency;
  if (c) {
    add(
      `## 3. ${c.runs} concurrent runs of ${c.cellsPerRun} cells of ${c.cellSeconds} s`,
      '',
      '| | makespan | peak resident memory |',
      '|---|---:|---|',
    );
    if (c.millrace) {
      add(
        `| millrace, one worker | ${s(c.millrace.makespanMs)} | worker ${mib(c.millrace.workerPeakRssMiB)} (idle before: ${mib(c.millrace.workerIdleRssMiB)}); Jupyter Server + ${c.millrace.jupyterMaxProcesses - 1} kernels ${mib(c.millrace.jupyterPeakRssMiB)}; Temporal dev server ${mib(c.millrace.temporalPeakRssMiB)}; all ${mib(c.millrace.totalPeakRssMiB)} |`,
      );
    }
    if (c.papermill) {
      add(
        `| ${c.runs} papermill processes | ${s(c.papermill.makespanMs)}${c.papermill.failed ? ` (${c.papermill.failed} of ${c.runs * c.rounds.length} processes failed)` : ''} | papermill processes + kernels (${c.papermill.maxProcesses} processes) ${mib(c.papermill.peakRssMiB)} |`,
      );
    }
    if (c.millrace && c.papermill) {
      add(
        '',
        ...(c.papermill.failed
          ? [`papermill failures: ${[...new Set(c.papermill.failures)].join('; ')} — papermill’s own failures with many kernels starting at once; a round with failures is left out of papermill’s median makespan while a clean round exists (a failed process ends early, or waits out its kernel start timeout).`, '']
          : []),
        `Makespans are medians over ${c.rounds.length} rounds, papermill’s over its rounds without failures (millrace then papermill in each: ${c.rounds.map((q) => `${s(q.millraceMs)} / ${s(q.papermillMs)}${q.papermillFailed ? ` with ${q.papermillFailed} papermill failures` : ''}`).join(', ')}); memory is the highest peak seen. Ratio millrace / papermill: ${x(c.millrace.makespanMs / c.papermill.makespanMs)} (target ≤ 0.50×). Kernel time alone is ${(c.cellsPerRun * c.cellSeconds).toFixed(1)} s per run. The worker runs inside the benchmark process, so its figure includes the client.`,
      );
    }
    add('');
  }

  if (r.history.length > 0) {
    add(
      '## 4. Temporal history per run',
      '',
      '| notebook | cells | workflow runs | events | markers | slices | JSON bytes | per cell | per cell without slices | protobuf bytes | per cell |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const h of r.history) {
      add(
        `| ${h.kind} | ${h.cells} | ${h.runs} | ${h.events} | ${h.markers ?? '–'} | ${h.slices ?? '–'} | ${h.jsonBytes} | ${kb(h.jsonBytesPerCell)} | ${kb(h.sliceJsonBytes === undefined ? null : (h.jsonBytes - h.sliceJsonBytes) / h.cells)} | ${h.protoBytes ?? '–'} | ${kb(h.protoBytesPerCell)} |`,
      );
    }
    add(
      '',
      'Outputs live in the store, never in history: what a cell adds to history does not depend on what it prints. In Python kernels a cell is a local activity: one MarkerRecorded event (its bounded result) instead of an activity’s three events and the workflow task’s three that follow; a cell running past 2 s adds a regular activity. Slices are the no-op sliceWorkflowTask activities that end a workflow task of local cells about once a second of cell time (the activity scheduled, started and completed, and the workflow task its completion starts): they grow with the cells’ duration, not their output, so the target compares bytes per cell without them. Per-cell figures include the run’s fixed events (start, prepare, kernel, finalize) spread over its cells.',
      '',
    );
  }

  const p = r.profile;
  if (p) {
    const paths = p.paths;
    add(
      `## 5. Where one cell’s time goes (warm, ${p.cells}-cell runs, ${p.cellsProfiled} cells)`,
      '',
      `Cells: ${paths['local'] ?? 0} as local activities, ${paths['handed-off'] ?? 0} handed off to a regular activity after 2 s, ${paths['activity'] ?? 0} as regular activities. ` +
        `One cycle runs from a cell’s executeCell execution starting in the worker to the next cell’s, joining ${p.workerBounds ? 'the worker’s own bounds of each execution (an activity interceptor, bench/instrument.ts), ' : ''}the output notebook’s times (worker and kernel) and Temporal history (local activity markers, with the time Core scheduled each; workflow task and activity events); one host, one clock. Means add up to the mean total; medians need not.`,
      '',
    );
    const common: Record<string, string> = {
      toRecord: 'execution start → cell marked running (papermill.start_time, ms precision): record lookup',
      toKernel: 'execute_request through Jupyter Server to the kernel (iopub.execute_input)',
      kernel: 'the kernel executing `x = i` (execute_input → execute_reply)',
      fromKernel: 'reply and idle status back to the worker (→ papermill.end_time)',
      flush: p.workerBounds ? 'final record write (→ execution ends in the worker)' : 'final record write (0: no worker bounds)',
    };
    const what: Record<string, Record<string, string>> = {
      local: {
        ...common,
        complete: 'between cells, in the worker’s process: the result into Core, a workflow activation, the next cell’s local activity scheduled (its marker’s schedule time)',
        dispatch: 'Core hands the local activity to the activity worker (→ next execution starts)',
        total: 'one cell, execution start to the next cell’s execution start',
      },
      activity: {
        ...common,
        report: 'execution end (worker) → ActivityTaskCompleted: completion through Core to the server',
        wftDispatch: 'ActivityTaskCompleted → WorkflowTaskStarted (workflow task on the sticky queue)',
        wftRun: 'WorkflowTaskStarted → WorkflowTaskCompleted (task to the worker, activation, reply)',
        deliver: 'WorkflowTaskCompleted → next execution starts (eager dispatch: same instant)',
        total: 'one cell, execution start to the next cell’s execution start',
      },
    };
    const table = (kind: 'local' | 'activity', title: string) => {
      const c = p.cycles[kind];
      if (!c) return;
      add(title, '', '| step | median | mean | p90 | what |', '|---|---:|---:|---:|---|');
      for (const [key, v] of Object.entries(c.medianMs)) add(`| ${key} | ${ms(v)} | ${ms(c.meanMs[key])} | ${ms(c.p90Ms[key])} | ${what[kind]![key] ?? ''} |`);
      add('');
    };
    table('local', `Local-activity cells within one workflow task (${p.cycles.local?.count ?? 0} cycles):`);
    table('activity', `Regular-activity cells (${p.cycles.activity?.count ?? 0} cycles):`);
    const slice = p.cycles.slice;
    const local = p.cycles.local;
    if (p.slices > 0 || slice) {
      const extra = slice && local ? slice.meanMs['total']! - local.meanMs['total']! : NaN;
      add(
        `Workflow-task slices: ${p.slices} over ${p.cellsProfiled} cells (${p.runs} run${p.runs === 1 ? '' : 's'}), one per ${(p.cellsProfiled / Math.max(1, p.slices)).toFixed(0)} cells: the workflow ends its task with a no-op activity (sliceWorkflowTask, dispatched eagerly with the task’s completion) about once a second of local cell time, so that queries and cancel requests get through.` +
          (slice
            ? ` A sliced cycle (${slice.count}, means): the cell ${ms(['toRecord', 'toKernel', 'kernel', 'fromKernel', 'flush'].reduce((a, k) => a + (slice.meanMs[k] ?? 0), 0))}, then execution end → WorkflowTaskCompleted (activation, the slice activity’s command, the task’s markers to the server) ${ms(slice.meanMs['complete'])}, → next WorkflowTaskScheduled (the slice activity’s round trip: handed back with the completion, run, reported completed) ${ms(slice.meanMs['sliceActivity'])}, → WorkflowTaskStarted ${ms(slice.meanMs['wftDispatch'])}, → next local activity scheduled (task to the worker, activation) ${ms(slice.meanMs['activation'])}, → next execution ${ms(slice.meanMs['dispatch'])}; total ${ms(slice.meanMs['total'])} against ${ms(local?.meanMs['total'])} within a task: ${ms(extra)} per slice, ${ms((extra * slice.count) / Math.max(1, p.cellsProfiled))} per cell spread over all cells.`
            : ''),
        '',
      );
    }
    const handed = p.cycles['handed-off'];
    if (handed) {
      add(
        `Handed-off cells (${handed.count} cycles, means): kernel ${ms(handed.meanMs['kernel'])}; after the execution ends, → ActivityTaskCompleted ${ms(handed.meanMs['report'])}, → WorkflowTaskStarted ${ms(handed.meanMs['wftDispatch'])}, a slice when that task ends with the slice activity (→ WorkflowTaskCompleted ${ms(handed.meanMs['wftRun'])}, the slice activity ${ms(handed.meanMs['sliceActivity'])}, → WorkflowTaskStarted ${ms(handed.meanMs['sliceDispatch'])}), → next local activity scheduled ${ms(handed.meanMs['activation'])}, → next execution ${ms(handed.meanMs['dispatch'])}; total ${ms(handed.meanMs['total'])}.`,
        '',
      );
    }
    if (p.paths['activity']) add(`Eager activity dispatch: ${p.eagerCells} of ${p.paths['activity']} regular cell activities started in the same instant they were scheduled.`, '');
    const ph = p.phasesMs;
    if (ph) {
      add(
        `Around the cells (medians): workflow started → first cell scheduled ${ms(ph.beforeCells)} (prepareRun ${ms(ph.prepareRun)}, startKernel ${ms(ph.startKernel)}, from the worker’s kernel pool when it has an idle kernel); last cell’s end → workflow completed ${ms(ph.afterCells)} (finalizeRun ${ms(ph.finalizeRun)}, shutdownKernel ${ms(ph.shutdownKernel)}; prepareRun, finalizeRun and shutdownKernel show – where they ran as local activities, whose markers hold no wall-clock time); the client’s share of the wall time (input and snapshot, start RPC, result delivery) ${ms(p.clientMs)}.`,
      );
    }
    if (p.transport) {
      add(
        '',
        `Bare kernel round trip of \`x = i\` (${p.transport.cells} sequential executions, reply and idle): millrace’s path (@jupyterlab/services, Jupyter Server kernel websocket with TCP_NODELAY) median ${ms(p.transport.websocketMedianMs)} (p90 ${ms(p.transport.websocketP90Ms)}); papermill’s path (jupyter_client, ZeroMQ straight to the kernel) median ${ms(p.transport.zmqMedianMs)} (p90 ${ms(p.transport.zmqP90Ms)}).`,
      );
    }
    add('');
  }

  if (r.experiments.length > 0) {
    const base = r.experiments.find((e) => e.name === 'baseline');
    add(
      '## 6. Experiments: what a lever saves',
      '',
      `Each on a fresh stack in its own process, 100 trivial cells, after a warm-up; experiments take turns in ${r.options.experimentRounds} rounds of 2 runs, figures are medians over all runs; on a shared machine the minimum is the least disturbed estimate. Cycle = median time between consecutive cells’ executeCell executions starting, in the worker (local or regular activities alike). Start kernel = the startKernel activity, median over runs (ms). Server RPCs and persistence writes per cell from the dev server’s /metrics; CPU per cell from /proc over the cell loop (cells 2 to 100, no kernel start-up).`,
      '',
      '| experiment | what | cycle/cell: median (min–max) | vs baseline: median · min | 100 cells | start kernel | server RPCs/cell (frontend) | DB writes/cell | CPU/cell: worker · Jupyter Server · kernel · Temporal |',
      '|---|---|---:|---:|---:|---:|---:|---:|---|',
    );
    for (const e of r.experiments) {
      const run = e.result.medianRun;
      const frontend = Object.entries(run.serverRpcsPerCell)
        .filter(([k]) => k.startsWith('frontend ') && !k.includes('Poll'))
        .reduce((a, [, v]) => a + v, 0);
      const writes = Object.entries(run.persistencePerCell)
        .filter(([k]) => /Update|Create|Append/.test(k))
        .reduce((a, [, v]) => a + v, 0);
      const cpu = run.loopCpuPerCellMs ?? run.cpuPerCellMs;
      add(
        `| ${e.name} | ${e.what} | ${ms(e.cycleMs)} (${e.cycleRangeMs[0].toFixed(0)}–${e.cycleRangeMs[1].toFixed(0)}) | ${base && e !== base ? `${x(e.cycleMs / base.cycleMs)} · ${x(e.cycleRangeMs[0] / base.cycleRangeMs[0])}` : '–'} | ${s(e.wallMs)} | ${ms(median(e.result.runs.map((run) => run.phases?.startKernel ?? NaN)), 0)} | ${frontend.toFixed(2)} | ${writes.toFixed(2)} | ${ms(cpu['worker'])} · ${ms(cpu['jupyterServer'])} · ${ms(cpu['kernel'])} · ${ms(cpu['temporal'])} |`,
      );
    }
    if (base) {
      const run = base.result.medianRun;
      add(
        '',
        `Baseline per cell: frontend RPCs ${Object.entries(run.serverRpcsPerCell)
          .filter(([k]) => k.startsWith('frontend ') && !k.includes('Poll'))
          .map(([k, v]) => `${k.replace('frontend ', '')} ${v.toFixed(2)} (${ms(run.serverRpcMeanMs[k])})`)
          .join(', ')}; persistence ${Object.entries(run.persistencePerCell)
          .filter(([, v]) => v >= 0.05)
          .map(([k, v]) => `${k} ${v.toFixed(2)} (${ms(run.persistenceMeanMs[k])})`)
          .join(', ')}; store writes ${run.store.writesPerCell.toFixed(2)}/cell of ${run.store.meanWriteKiB.toFixed(0)} KiB in ${ms(run.store.meanWriteMs)}.`,
      );
    }
    add('');
  }

  add('## Load during each section', '', 'Other processes: CPU of processes outside the benchmark’s process tree, sampled every second (a lower bound).', '', '| section | wall | whole machine (cores busy) | other processes (cores) | load average (start → end) |', '|---|---:|---:|---:|---|');
  for (const [name, l] of Object.entries(r.load)) add(`| ${name} | ${l.wallS} s | ${l.machineCores} | ${l.foreignCores} | ${l.load1[0]} → ${l.load1[1]} |`);
  add('');
  return `${lines.join('\n')}\n`;
}
