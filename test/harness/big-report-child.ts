/**
 * A child that prints `started`, then one JSON report of the size given (node bin/run-ts.mjs
 * test/harness/big-report-child.ts BYTES), and ends the way the chaos child watchdog does. It keeps
 * an open handle, as a watchdog's connection pools can: only an exit ends it.
 */
import { exitAfterOutput } from '../../functions/sandbox/child-output.js';

const bytes = Number(process.argv[2] ?? 0);
process.stdout.write('started\n');
process.stdout.write(`${JSON.stringify({ pad: 'x'.repeat(bytes) })}\n`);
setInterval(() => undefined, 60_000);
exitAfterOutput(0);
