/**
 * Answers that need none of the command line's modules (issue 18: a command loads only what
 * it uses): `--version`, and `--help` of any command when stdout is not a terminal, from
 * dist/cli/help.json, which the build wrote by running each `--help` through commander
 * (cli/bundle-help.ts). On a terminal commander wraps help at the terminal's width, so
 * help there goes through commander. Loads node:fs and the version, nothing else: the
 * build bundles it as CommonJS (dist/cli/quick-answers.cjs) for bin/millrace.js.
 */
import { readFileSync } from 'node:fs';
import { MILLRACE_VERSION } from '../notebook/version.js';

const HELP_FLAGS = new Set(['--help', '-h']);
const VERSION_FLAGS = new Set(['--version', '-V']);

/** What `millrace ARGS` prints, when it is this simple; undefined for everything else. */
export function quickAnswer(args: string[], stdoutIsTerminal: boolean, helpFile: string): string | undefined {
  if (args.length === 1 && VERSION_FLAGS.has(args[0]!)) return `${MILLRACE_VERSION}\n`;
  const last = args.at(-1);
  if (stdoutIsTerminal || last === undefined || !HELP_FLAGS.has(last)) return undefined;
  return helpTexts(helpFile)?.[args.slice(0, -1).join(' ')];
}

/** By command path ('' for the program, 'schedule create'): the text `--help` prints at commander's width for a pipe. */
export type HelpTexts = Record<string, string>;

function helpTexts(helpFile: string): HelpTexts | undefined {
  try {
    return JSON.parse(readFileSync(helpFile, 'utf8')) as HelpTexts;
  } catch {
    // Unreadable: commander answers instead.
    return undefined;
  }
}
