/**
 * bench:check — how fast and how cheap one watchdog check is.
 *   warmMs           median of N warm cycles (connections reused, as in a warm Lambda container)
 *   queriesPerCheck  statements one check sends (servers + routers)
 *   coldMs           a fresh node process that loads the esbuild bundle and runs its first check
 *   bundleBytes      size of the bundle: the entry and every chunk (minified JavaScript, as deployed)
 * Cluster: 2 MariaDB servers, one group of 3 HAProxy routers, on this machine.
 * Last line: {"bench":"check","warmMs":…,"queriesPerCheck":…,"coldMs":…,"bundleBytes":…}
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ConnectionCache } from '../functions/cluster/observe.js';
import { parseConfig } from '../functions/config/schema.js';
import { runCycle } from '../functions/operations/cycle.js';
import { startCluster } from '../functions/sandbox/harness/index.js';

const run = promisify(execFile);
const cycles = Number(process.argv.find((a) => a.startsWith('--cycles='))?.split('=')[1] ?? 30);
const colds = Number(process.argv.find((a) => a.startsWith('--colds='))?.split('=')[1] ?? 5);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const round = (n: number): number => Math.round(n * 10) / 10;

const cluster = await startCluster({ servers: 2, groups: 1, routersPerGroup: 3, name: 'bench-check' });
try {
  const configPath = cluster.configFile();
  const config = parseConfig(cluster.config(), configPath);
  const cache = new ConnectionCache();
  const invocation = {
    trigger: 'schedule' as const,
    action: 'check' as const,
    group: 'g1',
    dryRun: false,
    force: false,
  };
  const first = await runCycle(config, invocation, { cache });
  if (first.analysis?.code !== 'Ok')
    throw new Error(`cluster not Ok: ${JSON.stringify(first.analysis ?? first.error)}`);
  const warm: number[] = [];
  let queries = 0;
  for (let i = 0; i < cycles; i++) {
    const t0 = performance.now();
    const report = await runCycle(config, invocation, { cache });
    warm.push(performance.now() - t0);
    queries = report.queries ?? 0;
  }
  await cache.close();
  console.log(
    `warm check: median ${round(median(warm))} ms, min ${round(Math.min(...warm))} ms, max ${round(Math.max(...warm))} ms over ${cycles} cycles; ${queries} queries per check`,
  );

  // @ts-expect-error plain ESM build script without types
  const { buildBundle } = await import('../scripts/build.mjs');
  const { outfile, bytes, entryBytes, files } = (await buildBundle()) as {
    outfile: string;
    bytes: number;
    entryBytes: number;
    files: number;
  };
  console.log(
    `bundle ${outfile}: ${bytes} bytes in ${files} files (entry ${entryBytes} bytes, the rest in chunks loaded on first use)`,
  );

  const probe = join(tmpdir(), `mf-cold-${process.pid}.mjs`);
  writeFileSync(
    probe,
    `const { handler } = await import(${JSON.stringify(join(process.cwd(), outfile))});
const result = await handler({ action: 'check', group: 'g1' }, { getRemainingTimeInMillis: () => 300000, functionName: 'bench', awsRequestId: 'cold' });
// Exit once the line drained into the pipe: process.exit() right after a write can cut it.
if (!result.ok) process.stderr.write(JSON.stringify(result) + '\\n', () => process.exit(1));
else process.stdout.write(JSON.stringify({ coldMs: performance.now(), code: result.report.analysis.code }) + '\\n', () => process.exit(0));
`,
  );
  const coldRuns: number[] = [];
  for (let i = 0; i < colds; i++) {
    const { stdout } = await run(process.execPath, [probe], {
      env: {
        ...process.env,
        CONFIG_FILE: configPath,
        GROUP: 'g1',
        POWERTOOLS_METRICS_DISABLED: 'true',
        POWERTOOLS_LOG_LEVEL: 'ERROR',
      },
    });
    const line = stdout.trim().split('\n').pop()!;
    coldRuns.push((JSON.parse(line) as { coldMs: number }).coldMs);
  }
  console.log(
    `cold start (fresh node process: load bundle + first check): median ${round(median(coldRuns))} ms over ${colds} runs [${coldRuns.map(round).join(', ')}]`,
  );
  console.log(
    JSON.stringify({
      bench: 'check',
      warmMs: round(median(warm)),
      queriesPerCheck: queries,
      coldMs: round(median(coldRuns)),
      bundleBytes: bytes,
    }),
  );
} finally {
  await cluster.stop();
}
