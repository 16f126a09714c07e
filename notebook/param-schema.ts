// zod schemas of parameter values, apart from parsing code so that the workflow bundle
// (which validates its input with them) does not pull in the YAML parser.
import { z } from 'zod';
import { isValidParamName, type ParamValue } from './param-value.js';

const INT_TEXT = /^-?(?:0|[1-9][0-9]*)$/;
const FLOAT_TEXT = /^(?:-?(?:[0-9]+\.[0-9]+|[0-9](?:\.[0-9]+)?e[+-][0-9]{2,})|nan|-?inf)$/;

export const paramValueSchema: z.ZodType<ParamValue> = z.lazy(() =>
  z.discriminatedUnion('t', [
    z.object({ t: z.literal('none') }),
    z.object({ t: z.literal('bool'), v: z.boolean() }),
    z.object({ t: z.literal('int'), v: z.string().regex(INT_TEXT, 'must be a canonical decimal integer') }),
    z.object({ t: z.literal('float'), v: z.string().regex(FLOAT_TEXT, 'must be a Python float repr') }),
    z.object({ t: z.literal('str'), v: z.string() }),
    z.object({ t: z.literal('list'), v: z.array(paramValueSchema) }),
    z.object({ t: z.literal('dict'), v: z.array(z.tuple([z.string(), paramValueSchema])) }),
  ]),
);

export const paramNameSchema = z.string().refine(isValidParamName, {
  error: 'must be a Python identifier that is not a keyword',
});
export const paramsSchema = z.record(paramNameSchema, paramValueSchema);
