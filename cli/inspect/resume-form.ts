/**
 * The inspector's resume form (`u` on a failed or cancelled run): the choices
 * `millrace resume` takes as options, on two lines at the bottom of the run view. The cell
 * is the one selected (moving the cursor changes it); `t` switches between replaying the
 * earlier cells and restoring the run's checkpoint (offered when it ran with
 * `--checkpoint`); `p` takes one `name=value`, read as `-p name value` is; `e` opens every
 * parameter as YAML in $EDITOR, read as `-f FILE` is. The key handling is pure (unit tests);
 * the editor round trip is `editParameters`.
 */
import type { Key } from 'ink';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mergeParams, ParamError, type Params } from '../../notebook/params.js';
import { paramsToYaml } from '../../notebook/params-yaml.js';
import { resolveParameters } from '../submit.js';
import { editLine } from './line-input.js';

export interface ResumeForm {
  runId: string;
  restore: 'replay' | 'checkpoint';
  /** The parameters the run was started with. */
  earlier: Params;
  /** Those changed here (as `-p` would change them). */
  overrides: Params;
  /** Whether the run took checkpoints (`run --checkpoint`): only then can it be restored. */
  checkpoints: boolean;
  /** The `name=value` being typed after `p`. */
  typing: string | null;
  /** Why the last key did nothing (a bad `name=value`, no checkpoints). */
  problem: string | null;
}

export type FormStep = { form: ResumeForm } | { submit: ResumeForm } | { cancel: true } | { editParameters: ResumeForm };

export function resumeForm(runId: string, offer: { parameters: Params; checkpoints: boolean }): ResumeForm {
  return { runId, restore: 'replay', earlier: offer.parameters, overrides: {}, checkpoints: offer.checkpoints, typing: null, problem: null };
}

/** A key in the form (the view handles the cursor keys first: they choose the cell). */
export function resumeFormKey(form: ResumeForm, input: string, key: Key): FormStep {
  if (form.typing !== null) {
    const edit = editLine(form.typing, input, key);
    if ('text' in edit) return { form: { ...form, typing: edit.text } };
    if ('cancelled' in edit || edit.done.trim() === '') return { form: { ...form, typing: null } };
    return { form: assign(form, edit.done.trim()) };
  }
  const next = { ...form, problem: null };
  if (key.return || input === 'y') return { submit: next };
  if (key.escape) return { cancel: true };
  if (input === 'p') return { form: { ...next, typing: '' } };
  if (input === 'e') return { editParameters: next };
  if (input === 't') {
    if (!form.checkpoints) return { form: { ...next, problem: `run ${form.runId} was not started with --checkpoint: its cells can only be replayed` } };
    return { form: { ...next, restore: form.restore === 'replay' ? 'checkpoint' : 'replay' } };
  }
  return { form: form };
}

/** `name=value`, the value typed as `-p name value` types it (papermill's coercion). */
function assign(form: ResumeForm, text: string): ResumeForm {
  const at = text.indexOf('=');
  if (at <= 0) return { ...form, typing: null, problem: `"${text}": type name=value, e.g. n=3` };
  try {
    const one = mergeParams({ parameters: [[text.slice(0, at).trim(), text.slice(at + 1)]] });
    return { ...form, typing: null, problem: null, overrides: changed(form.earlier, { ...form.overrides, ...one }) };
  } catch (err) {
    if (err instanceof ParamError) return { ...form, typing: null, problem: err.message };
    throw err;
  }
}

/** The values of `params` that differ from `earlier` (setting one back to its old value undoes it). */
function changed(earlier: Params, params: Params): Params {
  return Object.fromEntries(Object.entries(params).filter(([name, value]) => JSON.stringify(value) !== JSON.stringify(earlier[name])));
}

/** The form's two lines: what the resume will do, and its keys. */
export function formLines(form: ResumeForm, fromCell: number | null): [string, string] {
  const how = form.restore === 'checkpoint' ? 'restoring its checkpoint' : 'replaying the cells before it';
  const names = Object.keys(form.overrides);
  const params = names.length === 0 ? 'parameters as before' : `changed: ${names.map((n) => paramsToYaml({ [n]: form.overrides[n]! }).trimEnd()).join(', ')}`;
  const what = `resume from cell ${fromCell ?? '?'}, ${how} · ${params}`;
  if (form.typing !== null) return [what, `parameter (name=value): ${form.typing}▏  (enter sets · esc cancels)`];
  const keys = ['↑↓ cell', form.checkpoints ? `t ${form.restore === 'replay' ? 'checkpoint' : 'replay'}` : '', 'p name=value', 'e parameters in $EDITOR', 'enter resumes', 'esc cancels'];
  return [what, form.problem ?? keys.filter(Boolean).join(' · ')];
}

const YAML_HEADER = [
  '# The parameters of the resumed run, as YAML (read as `millrace resume -f FILE` reads it).',
  '# Change values, save and quit; a name taken out keeps its earlier value.',
  '',
].join('\n');

/**
 * `e` in the form: every parameter (as the resume would run with them) as YAML in the
 * editor, read back as `-f FILE`. The form with the values saved, or with the reason why
 * not (the editor failed, the YAML is invalid): nothing changes then.
 */
export async function editParameters(form: ResumeForm, editor: string, runOnTerminal: (program: string, file: string) => number | null): Promise<ResumeForm> {
  const dir = mkdtempSync(join(tmpdir(), 'millrace-params-'));
  try {
    const file = join(dir, 'parameters.yaml');
    writeFileSync(file, YAML_HEADER + paramsToYaml({ ...form.earlier, ...form.overrides }), { mode: 0o600 });
    const status = runOnTerminal(editor, file);
    if (status !== 0) return { ...form, problem: `${editor} exited with status ${status ?? 'unknown'}: parameters unchanged` };
    const saved = await resolveParameters({ files: [file], yaml: [], parameters: [], raw: [] }).catch((err: Error) => err);
    if (saved instanceof Error) return { ...form, problem: `${saved.message.replace(file, 'the edited YAML')}: parameters unchanged` };
    return { ...form, problem: null, overrides: changed(form.earlier, { ...form.earlier, ...saved }) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
