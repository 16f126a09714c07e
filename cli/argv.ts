/**
 * papermill's `-p NAME VALUE` and `-r NAME VALUE` take two values each, which commander
 * cannot express; they are lifted out of argv before commander parses the rest. Values
 * are taken verbatim, so `-p offset -5` works as it does in papermill.
 */
import { UserError } from './errors.js';

export interface PairOptions {
  parameters: Array<[string, string]>;
  raw: Array<[string, string]>;
  rest: string[];
}

const PAIR_FLAGS: Record<string, 'parameters' | 'raw'> = {
  '-p': 'parameters',
  '--parameters': 'parameters',
  '-r': 'raw',
  '--parameters-raw': 'raw',
  '--parameters_raw': 'raw',
};

export function extractPairs(argv: string[]): PairOptions {
  const out: PairOptions = { parameters: [], raw: [], rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      out.rest.push(...argv.slice(i));
      break;
    }
    const kind = PAIR_FLAGS[arg];
    if (!kind) {
      out.rest.push(arg);
      continue;
    }
    const name = argv[i + 1];
    const value = argv[i + 2];
    if (name === undefined || value === undefined) {
      throw new UserError(`${arg} takes two values, a name and a value: ${arg} NAME VALUE`);
    }
    out[kind].push([name, value]);
    i += 2;
  }
  return out;
}
