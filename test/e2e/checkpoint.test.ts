/**
 * Kernel checkpoints: `millrace run --checkpoint` saves the kernel's namespace with dill
 * after cells, and `millrace resume --restore checkpoint` loads it into the new run's
 * kernel, so the cells before the resume point run exactly once in total.
 */
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRunInput } from '../../cli/submit.js';
import { assertValidNotebook, codeCell, markdownCell, notebook, runCli, startHarness, streamText, type Harness, waitForSavedOutput, startWorkerProcess, exited } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const lines = async (path: string): Promise<string[]> => (await readFile(path, 'utf8')).split('\n').filter(Boolean);
const checkpoints = (runId: string): string => join(h.config.storeRoot, 'runs', runId, 'checkpoints');
const manifest = async (runId: string, cell: number): Promise<any> => JSON.parse(await readFile(join(checkpoints(runId), `cell-${cell}.json`), 'utf8'));
const show = async (runId: string): Promise<any> => JSON.parse((await runCli(['show', runId, '--json'], h.cliEnv)).stdout);

describe('millrace run --checkpoint, resume --restore checkpoint', () => {
  it('resumes a run failing at cell 5 of 8 without running cells 0-4 again, with their variables restored', async () => {
    const tag = randomBytes(3).toString('hex');
    const side = join(h.dir, `side-${tag}.txt`);
    const flag = join(h.dir, `fixed-${tag}`);
    const append = (i: number) => `open(${JSON.stringify(side)}, "a").write("cell ${i}\\n")`;
    const cells = [
      codeCell(`import types\n${append(0)}\ntotal = 1\nprint("cell 0")`),
      codeCell(`${append(1)}\ndef add(x):\n    return x + total\nscale = lambda x: add(x) * 2\nprint("cell 1")`),
      codeCell(`${append(2)}\nclass Box:\n    def __init__(self, value):\n        self.value = value\n    def twice(self):\n        return self.value * 2\nbox = Box(21)\nprint("cell 2")`),
      codeCell(`${append(3)}\nsettings = types.SimpleNamespace(name="plain", items=[1, 2, 3])\nalias = settings.items\ntotal += 10\nprint("cell 3")`),
      codeCell(`${append(4)}\nimport json\nprint("cell 4", json.dumps({"total": total}))`),
      codeCell(
        `import os\nif not os.path.exists(${JSON.stringify(flag)}):\n    raise RuntimeError("upstream data missing")\n` +
          'alias.append(4)\n' +
          'print(total, add(1), scale(1), box.twice(), type(box).__name__, settings.name, settings.items)\n' +
          'total = 100\nprint("live globals", add(1))',
      ),
      markdownCell('## after the failure'),
      codeCell('print("done", total, box.value)'),
    ];
    const path = await h.writeNotebook(`checkpointed-${tag}.ipynb`, notebook(cells));
    const runId = `checkpointed-${tag}`;
    const first = await runCli(['run', path, '--id', runId, '--checkpoint', '--json'], h.cliEnv);
    expect(first.code, first.stderr).toBe(1);
    expect(JSON.parse(first.stdout)).toMatchObject({ failed_cell: 5, error: { ename: 'RuntimeError' } });
    expect(await lines(side)).toEqual(['cell 0', 'cell 1', 'cell 2', 'cell 3', 'cell 4']);

    // One checkpoint per completed cell, each describing its dill bytes.
    const saved = await manifest(runId, 4);
    expect(saved).toMatchObject({ run_id: runId, cell: 4, data: 'cell-4.dill', unserialisable: [], error: null });
    expect(saved.names).toEqual(['Box', 'add', 'alias', 'box', 'json', 'scale', 'settings', 'total', 'types']);
    const bytes = await readFile(join(checkpoints(runId), 'cell-4.dill'));
    expect(bytes.length).toBe(saved.bytes);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(saved.sha256);
    for (const cell of [0, 1, 2, 3]) expect((await manifest(runId, cell)).cell).toBe(cell);
    await expect(readFile(join(checkpoints(runId), 'cell-5.json'))).rejects.toThrow(/ENOENT/);
    const perCell = await Promise.all([0, 1, 2, 3, 4].map(async (c) => (await manifest(runId, c)).duration_ms as number));
    console.log(`checkpoint save per cell (small namespace): ${perCell.join(', ')} ms`);

    await writeFile(flag, '');
    const r = await runCli(['resume', runId, '--restore', 'checkpoint', '--id', `${runId}-2`, '--json'], h.cliEnv);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ run_id: `${runId}-2`, status: 'completed' });
    // Cells 0-4 ran exactly once across both runs.
    expect(await lines(side)).toEqual(['cell 0', 'cell 1', 'cell 2', 'cell 3', 'cell 4']);

    await assertValidNotebook(out.output);
    const nb = JSON.parse(await readFile(out.output, 'utf8'));
    // The function, the lambda, the class and its instance, the plain object, and shared
    // references (alias is settings.items) came back; functions see the live namespace.
    expect(streamText(nb.cells[5])).toBe('11 12 24 42 Box plain [1, 2, 3, 4]\nlive globals 101\n');
    expect(streamText(nb.cells[7])).toBe('done 100 21\n');
    expect(nb.metadata.millrace.resumed_from).toEqual({
      run_id: runId,
      from_cell: 5,
      restore: 'checkpoint',
      checkpoint: { after_cell: 4, location: join(checkpoints(runId), 'cell-4.dill'), sha256: saved.sha256, bytes: saved.bytes },
      replayed_cells: [],
      reassigned_parameters: [],
    });
    // Carried-over cells keep the first run's outputs and timing, and say where they came from.
    const earlier = JSON.parse(await readFile(JSON.parse(first.stdout).output, 'utf8'));
    for (const i of [0, 1, 2, 3, 4]) {
      // By id: the earlier record starts with papermill's error banner.
      const old = earlier.cells.find((c: any) => c.id === nb.cells[i].id);
      expect(nb.cells[i].metadata.millrace.carried_over_from).toBe(runId);
      expect(nb.cells[i].outputs).toEqual(old.outputs);
      expect(nb.cells[i].metadata.papermill).toEqual(old.metadata.papermill);
      expect(streamText(nb.cells[i])).toMatch(new RegExp(`^cell ${i}`));
    }
    // The resumed run checkpoints too (it ran with the earlier run's --checkpoint).
    expect((await manifest(`${runId}-2`, 7)).names).toContain('add');

    // Links both ways: the record, resumed-as.json, and the resumed run's memo.
    const description = await h.client.workflow.getHandle(`${runId}-2`).describe();
    expect(description.memo?.['resumed_from']).toBe(runId);
    expect((await show(`${runId}-2`)).resumed_from).toEqual({ run_id: runId, from_cell: 5, restore: 'checkpoint', checkpoint_after_cell: 4 });
    expect((await show(runId)).resumed_as).toEqual([{ run_id: `${runId}-2`, output: out.output }]);
    const text = await runCli(['show', `${runId}-2`], h.cliEnv);
    expect(text.stdout).toContain(`resumed:  from ${runId} at cell 5 (restored its checkpoint after cell 4)`);
  });

  it('with cells tagged checkpoint, saves only after them, and resumes from the cell after one with new parameters', async () => {
    const tag = randomBytes(3).toString('hex');
    const side = join(h.dir, `tagged-${tag}.txt`);
    const append = (i: number) => `open(${JSON.stringify(side)}, "a").write("cell ${i}\\n")`;
    const cells = [
      codeCell('threshold = 0\nlimit = 5', ['parameters']),
      codeCell(`${append(2)}\nlimit += 1\nseen = [limit]`, ['checkpoint']),
      codeCell(`${append(3)}\nseen.append(threshold)`),
      codeCell(`if threshold < 10:\n    raise ValueError(f"threshold {threshold} too low")\nprint(limit, threshold, seen)`),
    ];
    const path = await h.writeNotebook(`tagged-${tag}.ipynb`, notebook(cells));
    const runId = `tagged-${tag}`;
    // The injected parameters cell is cell 1, so the notebook's cells are 0, 1 (injected), 2, 3, 4.
    const first = await runCli(['run', path, '--id', runId, '--checkpoint', '-p', 'threshold', '1', '--json'], h.cliEnv);
    expect(first.code, first.stderr).toBe(1);
    expect(JSON.parse(first.stdout)).toMatchObject({ failed_cell: 4, error: { ename: 'ValueError' } });
    expect((await manifest(runId, 2)).names).toEqual(['limit', 'seen', 'threshold']);
    for (const cell of [0, 1, 3]) await expect(readFile(join(checkpoints(runId), `cell-${cell}.json`))).rejects.toThrow(/ENOENT/);

    const refused = await runCli(['resume', runId, '--restore', 'checkpoint'], h.cliEnv);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim()).toBe(
      `millrace: no checkpoint of run ${runId} covers cell 4: none was saved after cell 3; ` +
        'the latest before it was saved after cell 2: resume with --from-cell 3, or with --restore replay',
    );

    const r = await runCli(['resume', runId, '--restore', 'checkpoint', '--from-cell', '3', '-p', 'threshold', '20', '--id', `${runId}-2`, '--json'], h.cliEnv);
    expect(r.code, r.stderr).toBe(0);
    const nb = JSON.parse(await readFile(JSON.parse(r.stdout).output, 'utf8'));
    // limit kept the value cell 2 gave it (not the parameter's), threshold took the new value.
    expect(streamText(nb.cells[4])).toBe('6 20 [6, 20]\n');
    expect(nb.metadata.millrace.resumed_from).toMatchObject({ restore: 'checkpoint', checkpoint: { after_cell: 2 }, reassigned_parameters: ['threshold'] });
    // Cell 2 ran once in total; cell 3 ran again, from the resume point.
    expect(await lines(side)).toEqual(['cell 2', 'cell 3', 'cell 3']);
  });

  it('refuses a checkpoint that lacks unserialisable objects, naming them, and runs without --checkpoint', async () => {
    const tag = randomBytes(3).toString('hex');
    const cells = [
      codeCell('import socket\nnumbers = (i for i in range(3))\nlistener = socket.socket()\nkept = 42'),
      codeCell('raise RuntimeError("stop here")'),
    ];
    const path = await h.writeNotebook(`unserialisable-${tag}.ipynb`, notebook(cells));
    const runId = `unserialisable-${tag}`;
    const first = await runCli(['run', path, '--id', runId, '--checkpoint', '--json'], h.cliEnv);
    expect(first.code, first.stderr).toBe(1);
    const saved = await manifest(runId, 0);
    expect(saved.names).toEqual(['kept', 'socket']);
    expect(saved.unserialisable).toEqual([
      { name: 'listener', reason: "TypeError: cannot pickle 'socket' object" },
      { name: 'numbers', reason: "TypeError: cannot pickle 'generator' object" },
    ]);
    const refused = await runCli(['resume', runId, '--restore', 'checkpoint'], h.cliEnv);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim()).toBe(
      `millrace: run ${runId}'s checkpoint after cell 0 cannot be restored: it lacks objects dill cannot serialise: ` +
        "listener (TypeError: cannot pickle 'socket' object), numbers (TypeError: cannot pickle 'generator' object); resume with --restore replay",
    );

    const plainId = `plain-${tag}`;
    const plain = await runCli(['run', path, '--id', plainId, '--json'], h.cliEnv);
    expect(plain.code).toBe(1);
    await expect(readFile(join(checkpoints(plainId), 'cell-0.json'))).rejects.toThrow(/ENOENT/);
    const noCheckpoints = await runCli(['resume', plainId, '--restore', 'checkpoint'], h.cliEnv);
    expect(noCheckpoints.code).toBe(2);
    expect(noCheckpoints.stderr.trim()).toBe(
      `millrace: run ${plainId} was not started with --checkpoint, so it has no checkpoints: resume it with --restore replay`,
    );
  });

  it('saves the checkpoint of a cell whose worker was killed mid-cell, on the recovery path of the retry', async () => {
    const tag = randomBytes(3).toString('hex');
    const side = join(h.dir, `killed-${tag}.txt`);
    const cells = [
      codeCell('a = 1'),
      codeCell(`import time\nprint("start 1", flush=True)\ntime.sleep(2)\nopen(${JSON.stringify(side)}, "a").write("cell 1\\n")\nb = a + 1`),
      codeCell('c = b + 1'),
    ];
    const path = await h.writeNotebook(`killed-${tag}.ipynb`, notebook(cells));
    const taskQueue = `ckpt-killed-${tag}`;
    let first = await startWorkerProcess(taskQueue);
    let second: ChildProcess | undefined;
    try {
      const input = await buildRunInput({ ...h.config, taskQueue }, { notebookPath: path, params: {}, checkpoint: true });
      const handle = await h.client.workflow.start('notebookRun', { taskQueue, workflowId: input.runId, args: [input] });
      await waitForSavedOutput(input.output, 1, 'start 1');
      first.kill('SIGKILL');
      await exited(first);
      second = await startWorkerProcess(taskQueue);
      await handle.result();
      const nb = JSON.parse(await readFile(input.output, 'utf8'));
      expect(nb.cells[1].metadata.millrace.recovered).toBe(true);
      expect(await lines(side)).toEqual(['cell 1']);
      expect((await manifest(input.runId, 1)).names).toEqual(['a', 'b', 'time']);
      expect((await manifest(input.runId, 2)).names).toEqual(['a', 'b', 'c', 'time']);
    } finally {
      first.kill('SIGKILL');
      second?.kill('SIGTERM');
      if (second) await exited(second);
    }
  });

  it('refuses --checkpoint for a notebook in another language', async () => {
    const nb = notebook([codeCell('x <- 1')]);
    nb.metadata = { kernelspec: { name: 'ir', display_name: 'R', language: 'R' }, language_info: { name: 'R' } };
    const path = await h.writeNotebook('r-notebook.ipynb', nb);
    const r = await runCli(['run', path, '--checkpoint'], h.cliEnv);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`millrace: --checkpoint needs a Python kernel; ${path} declares the language R: run it without --checkpoint`);
  });
});
