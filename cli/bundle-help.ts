/**
 * The quick answers' build (`npm run build`, after tsc; docs/architecture.md, "Start-up"):
 * dist/cli/help.json, what `millrace ... --help` prints for every command, run through
 * commander here exactly as a process whose stdout is a pipe runs it, so
 * cli/quick-answers.ts can print it without loading commander and every command's
 * definitions; and cli/quick-answers.ts itself as one CommonJS module,
 * dist/cli/quick-answers.cjs, which bin/millrace.js (CommonJS) requires.
 */
import { build } from 'esbuild';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { commandLine, main } from './main.js';
import type { HelpTexts } from './quick-answers.js';

/** Every command's path below `command`: ['run'], ['schedule'], ['schedule', 'create'], ... */
function* commandPaths(command: Command, prefix: string[] = []): Generator<string[]> {
  for (const sub of command.commands) {
    const path = [...prefix, sub.name()];
    yield path;
    yield* commandPaths(sub, path);
  }
}

/** What `millrace ARGS` writes on stdout when stdout is not a terminal (commander's width then: 80). */
export async function helpOutput(args: string[]): Promise<string> {
  const stdout = process.stdout;
  const write = stdout.write;
  const wasTerminal = Object.getOwnPropertyDescriptor(stdout, 'isTTY');
  let text = '';
  stdout.write = ((chunk: string | Uint8Array) => {
    text += chunk.toString();
    return true;
  }) as typeof stdout.write;
  Object.defineProperty(stdout, 'isTTY', { value: false, configurable: true });
  try {
    const code = await main(['node', 'millrace', ...args]);
    if (code !== 0) throw new Error(`millrace ${args.join(' ')} exited ${code}`);
  } finally {
    stdout.write = write;
    if (wasTerminal) Object.defineProperty(stdout, 'isTTY', wasTerminal);
    else delete (stdout as { isTTY?: boolean }).isTTY;
  }
  return text;
}

export async function helpTexts(): Promise<HelpTexts> {
  const program = await commandLine({ parameters: [], raw: [], rest: [] }, { code: 0 });
  const texts: HelpTexts = {};
  for (const path of [[], ...commandPaths(program)]) texts[path.join(' ')] = await helpOutput([...path, '--help']);
  return texts;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await writeFile(new URL('./help.json', import.meta.url), `${JSON.stringify(await helpTexts(), null, 1)}\n`);
  await build({
    entryPoints: [fileURLToPath(new URL('./quick-answers.js', import.meta.url))],
    outfile: fileURLToPath(new URL('./quick-answers.cjs', import.meta.url)),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    logLevel: 'warning',
  });
}
