/**
 * Option parsers and option groups that several commands declare alike. Registering
 * commands loads this module for every invocation: it must stay light (commander only).
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { PairOptions } from './argv.js';
import { parseDuration } from './duration.js';
import type { ParameterArgs } from './submit.js';
import type { WrapOptions } from '../jobs/wrap.js';

/** A number of seconds greater than 0 (`--timeout`, `--cell-timeout`). */
export function positiveSeconds(flag: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${flag} takes a positive number of seconds`);
    return n;
  };
}

/**
 * papermill's --language picks the parameter translator; only Python's exists here, so
 * `python` is accepted (it changes nothing) and any other language refused up front.
 */
export function translatorLanguage(value: string): 'python' {
  if (value.toLowerCase() !== 'python') {
    throw new InvalidArgumentError(`only python parameters can be injected (papermill's --language picks the translator; millrace has Python's only)`);
  }
  return 'python';
}

export function positiveInt(value: string) {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('takes a positive whole number');
  return n;
}

export function wholeNumber(value: string) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('takes a whole number (0 or more)');
  return n;
}

export function cellIndex(value: string) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('takes a cell index (0, 1, ...)');
  return n;
}

/** A duration such as 30m or 2h, as seconds. */
export function durationSeconds(flag: string) {
  return (value: string) => {
    const ms = parseDuration(value);
    if (ms === undefined || ms < 1000) throw new InvalidArgumentError(`${flag} takes a duration of at least 1s: a number and a unit (s, m, h, d), e.g. 30m, 2h, 1d`);
    return ms / 1000;
  };
}

const collect = (value: string, previous: string[]) => [...previous, value];

export interface ParameterHelp {
  parameters: string;
  raw: string;
  file: string;
  yaml: string;
}

/**
 * papermill's -p/-r/-f/-y, with each command's own help. -p and -r are declared for the
 * help only: their pairs are lifted out of argv before commander parses (cli/argv.ts).
 */
export function addParameterOptions(command: Command, help: ParameterHelp): Command {
  return command
    .option('-p, --parameters <name value>', help.parameters)
    .option('-r, --parameters-raw <name value>', help.raw)
    .option('-f, --parameters-file <file>', help.file, collect, [])
    .option('-y, --parameters-yaml <yaml>', help.yaml, collect, []);
}

/** The parameters a command was given: the pairs lifted from argv, the files and YAML from its options. */
export function parameterArgs(pairs: PairOptions, opts: { parametersFile: string[]; parametersYaml: string[] }): ParameterArgs {
  return { parameters: pairs.parameters, raw: pairs.raw, files: opts.parametersFile, yaml: opts.parametersYaml };
}

/** --cell-timeout and --timeout, in seconds, with each command's own help. */
export function addTimeoutOptions(command: Command, help: { cell: string; run: string }): Command {
  return command
    .option('--cell-timeout <seconds>', help.cell, positiveSeconds('--cell-timeout'))
    .option('--timeout <seconds>', help.run, positiveSeconds('--timeout'));
}

/** --engine and --connection: how a job file (.sql, PySpark .py) is wrapped; `wrap`, `run` and `schedule create`. */
export function addJobOptions(command: Command): Command {
  return command
    .option('--engine <engine>', "a job file's engine: duckdb, trino, spark, spark-connect or sqlalchemy; a .py script: spark or spark-connect (default: the header's @engine, else duckdb / spark)")
    .option('--connection <name>', "a job file's connection, named in millrace.toml or MILLRACE_CONNECTION_<NAME> (default: the header's @connection, else the engine's default)");
}

/** What addJobOptions parsed, as jobs/wrap.ts takes it. */
export function jobArgs(opts: { engine?: string; connection?: string }): WrapOptions {
  return { ...(opts.engine ? { engine: opts.engine } : {}), ...(opts.connection ? { connection: opts.connection } : {}) };
}
