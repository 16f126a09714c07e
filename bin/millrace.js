#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (built by scripts/setup.sh). CommonJS
// (bin/package.json): an ES module as the entry point costs node about 10 ms more before
// any code runs, which `--version` and help into a pipe would pay for nothing.
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');

const cli = join(__dirname, '..', 'dist', 'cli');
if (!existsSync(join(cli, 'main.js'))) {
  process.stderr.write('millrace: not built yet: run scripts/setup.sh\n');
  process.exit(3);
}
// --version, and --help into a pipe, without loading the command line (cli/quick-answers.ts,
// bundled as CommonJS by the build: cli/bundle-help.ts).
const { quickAnswer } = require(join(cli, 'quick-answers.cjs'));
const answer = quickAnswer(process.argv.slice(2), process.stdout.isTTY === true, join(cli, 'help.json'));
if (answer !== undefined) {
  process.stdout.write(answer);
} else {
  import(pathToFileURL(join(cli, 'main.js')).href).then(async ({ main }) => {
    const code = await main(process.argv);
    // Exit explicitly: gRPC and websocket handles would otherwise keep a finished command alive.
    process.exit(code);
  });
}
