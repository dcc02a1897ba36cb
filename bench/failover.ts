/**
 * bench:failover — how long a failover takes end to end, and what it loses.
 * A sandbox with 2 MariaDB servers and 3 backend groups (one HAProxy router each), the bench data set
 * in the primary, and a writer per router recording every acknowledged write. kill -9 the primary;
 * every group's watchdog is invoked at once, as an alarm would; the old primary is restarted and
 * the watchdogs run again until it is rebuilt.
 *   switchS          invocation -> an acknowledged write on the new primary through every router
 *   killToWritesS    kill -> the same moment (router health checks + watchdog)
 *   redundantS       invocation -> old primary restarted, fenced, salvaged, reseeded and replicating
 *   lostAckedWrites  acknowledged writes missing on the new primary (each must be in the salvage record)
 *   consistent       CHECKSUM TABLE equal on every table at the end
 * Options: --rows=N (bench data set, default 100000), --runs=N (default 1).
 * Last line: {"bench":"failover","groups":3,"switchS":…,"redundantS":…,"lostAckedWrites":…,"consistent":true}
 */
import { type DrillResult, playDrill, sandboxConfig } from '../functions/sandbox/drill.js';
import { startCluster } from '../functions/sandbox/harness/index.js';

const arg = (name: string, dflt: number): number =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt);
const rows = arg('rows', 100_000);
const runs = arg('runs', 1);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const results: DrillResult[] = [];
for (let run = 1; run <= runs; run++) {
  const cluster = await startCluster({ servers: 2, groups: 3, name: 'bench-failover' });
  try {
    const result = await playDrill(cluster, sandboxConfig(cluster, 'bench'), () => {}, { rows });
    results.push(result);
    for (const line of result.timeline) process.stdout.write(`  ${line}\n`);
    process.stdout.write(
      `run ${run}: switchS ${result.switchS} killToWritesS ${result.killToWritesS} redundantS ${result.redundantS} acknowledged ${result.acknowledged} lost ${result.lostAckedWrites} (unexplained ${result.unexplainedLost}) consistent ${result.consistent} final ${result.finalCode}\n`,
    );
  } finally {
    await cluster.stop();
  }
}
const pick = (f: (r: DrillResult) => number | null): number | null => {
  const v = results.map(f).filter((x): x is number => x !== null);
  return v.length === results.length ? Math.round(median(v) * 100) / 100 : null;
};
process.stdout.write(
  `load average ${(await import('node:os'))
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(
      ' ',
    )}; rows ${rows}; runs ${runs}; killToWritesS ${pick((r) => r.killToWritesS)}; unexplained lost ${results.reduce((n, r) => n + r.unexplainedLost, 0)}\n`,
);
process.stdout.write(
  `${JSON.stringify({
    bench: 'failover',
    groups: 3,
    switchS: pick((r) => r.switchS),
    redundantS: pick((r) => r.redundantS),
    lostAckedWrites: results.reduce((n, r) => n + r.lostAckedWrites, 0),
    consistent: results.every((r) => r.consistent),
  })}\n`,
);
process.exitCode = results.every((r) => r.ok) ? 0 : 1;
