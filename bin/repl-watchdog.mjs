#!/usr/bin/env node
// Runs the TypeScript CLI directly (no build step) through tsx's loader, on Node 22 (see node22.mjs).
import { ensureNode22 } from './node22.mjs';

await ensureNode22();
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../functions/cli.ts');
process.exitCode = await main(process.argv.slice(2));
