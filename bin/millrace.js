#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (built by scripts/setup.sh).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('millrace: not built yet: run scripts/setup.sh\n');
  process.exit(3);
}
// --version, and --help into a pipe, without loading the command line (cli/quick-answers.ts).
const { quickAnswer } = await import(new URL('../dist/cli/quick-answers.js', import.meta.url).href);
const answer = quickAnswer(process.argv.slice(2), process.stdout.isTTY === true);
if (answer !== undefined) {
  process.stdout.write(answer);
} else {
  const { main } = await import(entry.href);
  const code = await main(process.argv);
  // Exit explicitly: gRPC and websocket handles would otherwise keep a finished command alive.
  process.exit(code);
}
