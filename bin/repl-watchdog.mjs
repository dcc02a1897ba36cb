#!/usr/bin/env node
// Runs the TypeScript CLI directly (no build step) through tsx's loader, on Node 22 (see node22.mjs).
import { ensureNode22 } from './node22.mjs';

await ensureNode22();
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../functions/cli.ts');
const { exitAfterOutput } = await import('../functions/sandbox/child-output.ts');
// The command is done when main returns: exit once the output is written, whatever handle is still
// open (a failed sandbox drill left its writers' reconnect timers behind and the process never ended).
exitAfterOutput(await main(process.argv.slice(2)));
