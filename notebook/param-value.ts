// The tagged parameter value. JS numbers cannot tell 1.0 from 1 nor hold big ints,
// and the injected code must read exactly as papermill writes it, so values carry
// their Python type and Python text. Shared by params.ts and params-yaml.ts.

import { pyFloatRepr } from './pynum.js';
import { isPyIdentifier, PY_KEYWORDS } from './pystr.js';

export type ParamValue =
  | { t: 'none' }
  | { t: 'bool'; v: boolean }
  | { t: 'int'; v: string } // canonical decimal (str(int)), any size
  | { t: 'float'; v: string } // Python repr(float): '1.0', '1e+16', 'nan', '-inf'
  | { t: 'str'; v: string }
  | { t: 'list'; v: ParamValue[] }
  | { t: 'dict'; v: [string, ParamValue][] };

export type Params = Record<string, ParamValue>;

/** Raised for bad parameter input; the message is one line and names the source. */
export class ParamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ParamError';
  }
}

// ---- names ----

export function isValidParamName(name: string): boolean {
  return isPyIdentifier(name) && !PY_KEYWORDS.has(name);
}

/**
 * A parameter name becomes the left side of an assignment in the injected cell,
 * so it must be a plain Python identifier (papermill does not check; a name like
 * `x; import os` would be code).
 */
export function validateParamName(name: string): void {
  if (PY_KEYWORDS.has(name)) {
    throw new ParamError(`parameter name "${name}" is a Python keyword`);
  }
  if (!isPyIdentifier(name)) {
    throw new ParamError(`parameter name "${name}" is not a valid Python identifier`);
  }
}

// ---- constructors ----

export const none = (): ParamValue => ({ t: 'none' });
export const bool = (v: boolean): ParamValue => ({ t: 'bool', v });
export const str = (v: string): ParamValue => ({ t: 'str', v });
export const int = (v: bigint | number | string): ParamValue => ({ t: 'int', v: BigInt(v).toString() });
export const float = (v: number): ParamValue => ({ t: 'float', v: pyFloatRepr(v) });

/** Python str() of a scalar value: how papermill spells a non-string dict key. */
export function pyStr(v: ParamValue): string {
  switch (v.t) {
    case 'none':
      return 'None';
    case 'bool':
      return v.v ? 'True' : 'False';
    case 'int':
    case 'float':
    case 'str':
      return v.v;
    default:
      throw new ParamError('a list or mapping cannot be a mapping key');
  }
}
