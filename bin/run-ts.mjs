#!/usr/bin/env node
// Runs a TypeScript script (benchmarks, tools) through tsx's loader, on Node 22: node bin/run-ts.mjs FILE [ARGS...]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureNode22 } from './node22.mjs';

await ensureNode22();
const { register } = await import('tsx/esm/api');
register();
const [file, ...rest] = process.argv.slice(2);
if (!file) {
  console.error('usage: run-ts.mjs FILE [ARGS...]');
  process.exit(2);
}
process.argv = [process.argv[0], resolve(file), ...rest];
await import(pathToFileURL(resolve(file)).href);
