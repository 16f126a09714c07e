// The limits on what a user can submit, in one place so that the checks, their messages
// and the documentation (README "Limits", docs/failures.md) agree. Each exists because
// something further down fails badly past it: Temporal refuses the run, a recursive
// parser overflows its stack, or a YAML alias bomb expands without end.

import { formatBytes } from './bytes.js';
import { ParamError, type ParamValue, type Params } from './param-value.js';

/**
 * Parameters' size as they travel in the run's input (JSON of the tagged values).
 * Temporal refuses a payload over 2 MB (its default blob size limit,
 * limit.blobSize.error); the input carries more than the parameters and is handed on
 * to activities, so half of that is theirs.
 */
export const MAX_PARAMS_BYTES = 1024 * 1024;

/** How deeply lists and dicts may nest in a parameter value. Python's own parser stops at 200 nested brackets. */
export const MAX_PARAM_DEPTH = 100;

/** The size of one -y string or -f file. Nothing larger fits MAX_PARAMS_BYTES usefully. */
export const MAX_YAML_BYTES = 1024 * 1024;

/**
 * The yaml package's maxAliasCount: how many alias expansions one YAML document may
 * make (weighted by how many aliases each expanded value holds itself).
 */
export const MAX_YAML_ALIASES = 1000;

/**
 * The number of values a YAML document may expand to, aliases counted at each use. Each
 * value takes at least 12 bytes in the run's input ({"t":"none"}), so no more than about
 * 87,000 fit MAX_PARAMS_BYTES anyway.
 */
export const MAX_YAML_VALUES = 100_000;

/** How deeply a notebook's JSON may nest (nbformat's own notebooks nest under 20). */
export const MAX_NOTEBOOK_DEPTH = 512;

/**
 * The deepest nesting of [ and { in JSON or YAML text, counted without parsing (brackets
 * inside strings count too, so this can only overstate): a linear pre-check that lets
 * the recursive parsers after it never see text nested deeper than the caller's limit.
 */
export function bracketDepth(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) {
      if (++depth > max) max = depth;
    } else if ((c === 0x5d || c === 0x7d) && depth > 0) depth--;
  }
  return max;
}

/**
 * The deepest nesting of arrays and objects in JSON text, skipping strings (a markdown
 * cell full of brackets is not deep), without parsing: linear, no recursion.
 */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip the string; a backslash escapes the next character.
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) max = depth;
    } else if ((c === 0x5d || c === 0x7d) && depth > 0) depth--;
  }
  return max;
}

/** The deepest list/dict nesting in a parameter value (a scalar is depth 0); iterative. */
export function paramDepth(value: ParamValue): number {
  let max = 0;
  const stack: [ParamValue, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (d > max) max = d;
    if (v.t === 'list') for (const x of v.v) stack.push([x, d + 1]);
    else if (v.t === 'dict') for (const [, x] of v.v) stack.push([x, d + 1]);
  }
  return max;
}

/** UTF-8 bytes, without Buffer (notebook/ also runs inside the workflow sandbox). */
export function utf8Bytes(text: string): number {
  return new TextEncoder().encode(text).length;
}

/** The advice every too-large message ends with. */
const LARGE_VALUES =
  'pass large data as a file the notebook reads (a path as the parameter), not as a parameter value';

/**
 * Parameters a run can carry: each value nested at most MAX_PARAM_DEPTH deep, all of
 * them at most MAX_PARAMS_BYTES as the run's input holds them. Throws ParamError.
 */
export function checkParamsLimits(params: Params): void {
  for (const [name, value] of Object.entries(params)) {
    if (paramDepth(value) > MAX_PARAM_DEPTH) {
      throw new ParamError(`parameter ${name}: nested more than ${MAX_PARAM_DEPTH} levels deep (the limit)`);
    }
  }
  const bytes = utf8Bytes(JSON.stringify(params));
  if (bytes > MAX_PARAMS_BYTES) {
    const largest = Object.entries(params)
      .map(([name, v]) => [name, utf8Bytes(JSON.stringify(v))] as const)
      .sort((a, b) => b[1] - a[1])[0];
    const which = largest ? ` (the largest, ${largest[0]}, is ${formatBytes(largest[1])})` : '';
    throw new ParamError(
      `parameters are ${formatBytes(bytes)}${which}; the limit is ${formatBytes(MAX_PARAMS_BYTES)}, ` +
        `half of Temporal's 2 MB payload limit: ${LARGE_VALUES}`,
    );
  }
}
