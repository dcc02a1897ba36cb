/**
 * `npm run bench:scenarios`: every operator-control scenario (functions/sandbox/scenarios.ts) on one
 * real local cluster, in one process, with timings. Progress goes to stderr; the last line on stdout is
 * `{"bench":"scenarios","passed":N,"failed":M,"names":[...],"ms":{...}}`. Exit code 1 when one failed.
 */
import { runScenarios } from '../functions/sandbox/scenarios.js';

const log = (text: string): void => {
  process.stderr.write(`${text}\n`);
};
const t0 = performance.now();
const results = await runScenarios({ log, clusterName: 'bench-scenarios' });
for (const r of results.filter((x) => !x.passed)) log(`FAILED ${r.name}: ${r.error}`);
const passed = results.filter((r) => r.passed);
console.log(
  JSON.stringify({
    bench: 'scenarios',
    passed: passed.length,
    failed: results.length - passed.length,
    names: passed.map((r) => r.name),
    ms: Object.fromEntries(results.map((r) => [r.name, r.ms])),
    totalMs: Math.round(performance.now() - t0),
  }),
);
process.exitCode = results.every((r) => r.passed) ? 0 : 1;
