#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (built by scripts/setup.sh).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('millrace: not built yet: run scripts/setup.sh\n');
  process.exit(3);
}
const { main } = await import(entry.href);
const code = await main(process.argv);
// Exit explicitly: gRPC and websocket handles would otherwise keep a finished command alive.
process.exit(code);
