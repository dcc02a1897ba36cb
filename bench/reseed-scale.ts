/**
 * Reseed at scale: one sysbench data set (default 8 tables x 2,000,000 rows) rebuilt onto the replica
 * three ways in one run, each followed by replication from the source and CHECKSUM TABLE on every table:
 *   logical   the function's logical reseed (operations/reseed.ts: streaming dump to a local S3
 *             endpoint, restore), uninterrupted, one invocation
 *   physical  the physical reseed as the function orchestrates it (physical/orchestrate.ts): the real
 *             host script through the local adapter, mariadb-backup streamed through the same S3
 *             endpoint, the harness stopping and starting the target
 *   resumed   the logical reseed interrupted every --interrupt-every seconds (a simulated deadline: the
 *             invocation stops, a new one continues from what is stored)
 *
 * Every invocation is its own process, as in Lambda: bench/reseed-invocation.ts, bundled once at the
 * start with the function's esbuild options (scripts/esbuild-options.mjs, as the deployed bundle) into a
 * temporary folder and run with plain `node` (no tsx). The invocation gets its deadline and stops itself
 * by its AbortSignal, as the function does; this process kills it only when it overruns the deadline by
 * OVERRUN_MARGIN_S, and says so. The physical path's host commands (SSM in the function) are answered
 * by this process over the child's IPC channel, so the backup and restore helpers, the sandbox harness,
 * sysbench and tsx are not in the figure; neither is the local S3 endpoint (its own process).
 * peakRssMb is the largest process.resourceUsage().maxRSS any invocation reported; stderr has each
 * phase's peaks (maxRSS and the peaks of process.memoryUsage()). The last line is one JSON object.
 *
 *   node bin/run-ts.mjs bench/reseed-scale.ts [--tables 8] [--rows 2000000] [--interrupt-every 60]
 *     [--max-invocations 30]
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { type BuildOptions, build } from 'esbuild';
import { errorMessage } from '../functions/errors.js';
import type { LocalHostCommands } from '../functions/operations/physical/local-commands.js';
import { type Cluster, startCluster } from '../functions/sandbox/harness/index.js';
import { physicalHosts } from '../test/harness/physical-hosts.js';
import { startLocalS3 } from '../test/harness/s3rver.js';
import type {
  HostCall,
  HostReply,
  InvocationOutcome,
  InvocationRequest,
  MemoryPeaks,
} from './reseed-invocation.js';

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    tables: { type: 'string' },
    rows: { type: 'string' },
    'interrupt-every': { type: 'string' },
    'max-invocations': { type: 'string' },
  },
});
const TABLES = Number(values.tables ?? 8);
const ROWS = Number(values.rows ?? 2_000_000);
const INTERRUPT_S = Number(values['interrupt-every'] ?? 60);
const MAX_INVOCATIONS = Number(values['max-invocations'] ?? 30);
/** How long an invocation may run past its deadline before it is killed (a loaded machine is slow). */
const OVERRUN_MARGIN_S = 60;
const DB = 'sbtest';

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Bundles the invocation entry the way the function is bundled; returns the entry file. */
async function buildInvocation(outdir: string): Promise<string> {
  // @ts-expect-error plain ESM module without types
  const { bundleOptions } = (await import('../scripts/esbuild-options.mjs')) as {
    bundleOptions: BuildOptions;
  };
  await build({
    ...bundleOptions,
    entryPoints: { 'reseed-invocation': join(import.meta.dirname, 'reseed-invocation.ts') },
    outdir,
    outExtension: { '.js': '.mjs' },
    logLevel: 'warning',
  });
  return join(outdir, 'reseed-invocation.mjs');
}

/** The peak RSS of a live process (VmHWM), for an invocation killed before it could report. */
function highWaterMb(pid: number): number | undefined {
  try {
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Math.round(Number(kb) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

/** Memory of the function's processes: per phase, the peak of each figure over its invocations. */
type Peaks = Omit<MemoryPeaks, 'maxRssMb'> & { maxRssMb: number; invocations: number };
let phase: Peaks | undefined;
let peakRssMb = 0;
function account(memory: Partial<MemoryPeaks>): void {
  phase ??= { maxRssMb: 0, rss: 0, heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0, invocations: 0 };
  phase.invocations++;
  for (const k of ['maxRssMb', 'rss', 'heapUsed', 'heapTotal', 'external', 'arrayBuffers'] as const)
    phase[k] = Math.max(phase[k], memory[k] ?? 0);
  peakRssMb = Math.max(peakRssMb, phase.maxRssMb);
}
function memoryOf(name: string): void {
  const p = phase;
  log(
    p
      ? `  memory of the function's process during ${name}: peak rss ${p.maxRssMb} MiB (largest of ${p.invocations} invocation(s)), heap ${p.heapUsed}/${p.heapTotal} MiB, external ${p.external} MiB (array buffers ${p.arrayBuffers} MiB)`
      : `  memory during ${name}: no invocation reported`,
  );
  phase = undefined;
}

let entry = '';
/**
 * Runs one invocation in its own process and returns what it reported (undefined when it never did).
 * With `hosts`, the child's host commands are answered here over its IPC channel.
 */
async function invoke(
  request: InvocationRequest,
  hosts?: LocalHostCommands,
): Promise<InvocationOutcome | undefined> {
  const child = spawn(process.execPath, [entry, JSON.stringify(request)], {
    stdio: ['ignore', 'pipe', 'inherit', ...(hosts ? (['ipc'] as const) : [])],
  });
  if (hosts) {
    child.on('message', (m: HostCall) => {
      const answer =
        m.call === 'start'
          ? hosts.start(m.server, m.request)
          : m.call === 'status'
            ? hosts.status(m.server, m.commandId)
            : hosts.reachable(m.server);
      answer.then(
        (value) => child.connected && child.send({ id: m.id, value } satisfies HostReply),
        (error: unknown) =>
          child.connected && child.send({ id: m.id, error: errorMessage(error) } satisfies HostReply),
      );
    });
  }
  let stdout = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  let killedMb: number | undefined;
  let killed = false;
  const overrun =
    request.deadlineMs !== undefined
      ? setTimeout(
          () => {
            killedMb = highWaterMb(child.pid ?? -1);
            killed = true;
            log(
              `  the invocation ran more than ${OVERRUN_MARGIN_S} s past its deadline of ${request.deadlineMs! / 1000} s: killed (peak rss so far ${killedMb ?? '?'} MiB)`,
            );
            child.kill('SIGKILL');
          },
          request.deadlineMs + OVERRUN_MARGIN_S * 1000,
        )
      : undefined;
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  clearTimeout(overrun);
  const last = stdout.trim().split('\n').pop() ?? '';
  let outcome: InvocationOutcome | undefined;
  try {
    outcome = JSON.parse(last) as InvocationOutcome;
  } catch {
    outcome = undefined;
  }
  if (outcome) {
    account(outcome.memory);
    log(
      `  invocation process ${child.pid}: ${outcome.ok ? 'finished' : outcome.stopped ? 'stopped at its deadline' : 'failed'} after ${(outcome.ms / 1000).toFixed(1)} s, peak rss ${outcome.memory.maxRssMb} MiB`,
    );
  } else {
    if (killedMb !== undefined) account({ maxRssMb: killedMb });
    log(`  the invocation ended (exit ${code}${killed ? ', killed' : ''}) without reporting its outcome`);
  }
  return outcome;
}

async function checksums(server: Cluster['servers'][number]): Promise<string[]> {
  const out: string[] = [];
  for (let i = 1; i <= TABLES; i++) {
    const [r] = await server.query<{ Checksum: unknown }[]>(`CHECKSUM TABLE ${DB}.sbtest${i}`);
    out.push(String(r?.Checksum));
  }
  return out;
}

const dir = await mkdtemp(join(tmpdir(), 'bench-reseed-scale-'));
entry = await buildInvocation(join(dir, 'bundle'));
const s3 = await startLocalS3({ bucket: 'reseed' });
let cluster: Cluster | undefined;
try {
  cluster = await startCluster({
    servers: 2,
    groups: 0,
    name: 'reseed-scale',
    // The same settings for every way: a buffer pool of 1 GiB, default durability.
    serverArgs: ['--innodb-buffer-pool-size=1G', '--innodb-log-file-size=512M', '--max-allowed-packet=64M'],
  });
  const [source, target] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
  // The configuration as the function reads it (each invocation parses it).
  const rawConfig = {
    ...cluster.config(),
    groups: [{ name: 'bench', routerKind: 'haproxy', routers: ['127.0.0.1:9'] }],
    objectStore: `s3://${s3.bucket}/bench`,
  };
  log(
    `machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}, load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  await cluster.waitForReplication(target);
  // The data set is made on the source alone (the replica would only double the work).
  await target.query('STOP SLAVE');
  log(`preparing ${TABLES} tables x ${ROWS} rows with sysbench oltp_read_write prepare`);
  await source.query(`CREATE DATABASE ${DB}`);
  await run(
    'sysbench',
    [
      'oltp_read_write',
      '--db-driver=mysql',
      `--mysql-socket=${source.socketPath}`,
      '--mysql-user=root',
      `--mysql-db=${DB}`,
      `--tables=${TABLES}`,
      `--table-size=${ROWS}`,
      '--threads=2',
      'prepare',
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const [size] = await source.query<{ b: unknown }[]>(
    `SELECT SUM(DATA_LENGTH + INDEX_LENGTH) AS b FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${DB}'`,
  );
  const bytes = Number(size?.b ?? 0);
  const gb = Math.round((bytes / 1e9) * 100) / 100;
  log(`data set: ${bytes} bytes of data and indexes (${gb} GB), ${TABLES * ROWS} rows`);
  const expected = await checksums(source);

  /** Replication from the source after a rebuild, and the checksums once it caught up. */
  const verify = async (label: string): Promise<boolean> => {
    await cluster!.startReplication(target, source);
    await source.query(`INSERT INTO ${DB}.sbtest1 (k, c, pad) VALUES (1, 'after ${label}', 'x')`);
    await cluster!.waitForReplication(target, 600_000);
    const ok = (await checksums(target)).join() === (await checksums(source)).join();
    await target.query('STOP SLAVE');
    log(`  ${label}: replication running, checksums ${ok ? 'equal' : 'DIFFERENT'}`);
    return ok;
  };
  const ensureRunning = async () => {
    if (!target.isRunning()) await target.start(300_000);
  };

  // Each way starts from a target that holds the data already (a reseed replaces it) and stopped replication.
  const request = (kind: InvocationRequest['kind'], prefix: string): InvocationRequest => ({
    kind,
    config: rawConfig,
    source: source.address,
    target: target.address,
    storeUrl: `s3://${s3.bucket}/${prefix}`,
    storeOptions: s3.storeOptions,
  });

  log('logical: dump to s3rver and restore, one invocation');
  let t0 = performance.now();
  const logicalRun = await invoke(request('logical', 'logical'));
  if (!logicalRun?.ok) throw new Error(`logical reseed failed: ${logicalRun?.detail ?? 'no outcome'}`);
  const logicalS = (performance.now() - t0) / 1000;
  log(`  logical: ${logicalS.toFixed(1)} s`);
  memoryOf('logical');
  const logicalOk = (await checksums(target)).join() === expected.join() && (await verify('logical'));

  log('physical: mariadb-backup --stream through s3rver, restore on the target host');
  const hosts = physicalHosts(cluster.servers, {
    store: `s3://${s3.bucket}/physical`,
    workDir: join(dir, 'hosts'),
    s3,
  });
  t0 = performance.now();
  const physicalRun = await invoke(
    { ...request('physical', 'physical'), key: 'bench/backup.xb.gz', openedEpoch: 1, pollMs: 1_000 },
    hosts,
  );
  if (!physicalRun?.ok) throw new Error(`physical reseed failed: ${physicalRun?.detail ?? 'no outcome'}`);
  const physicalS = (performance.now() - t0) / 1000;
  log(`  physical: ${physicalS.toFixed(1)} s`);
  memoryOf('physical');
  const physicalOk =
    (await checksums(target)).join() === (await checksums(source)).join() && (await verify('physical'));

  log(`resumed: the logical reseed stopped every ${INTERRUPT_S} s, continued by a new invocation`);
  t0 = performance.now();
  let invocations = 0;
  let resumedDone = false;
  while (!resumedDone && invocations < MAX_INVOCATIONS) {
    invocations++;
    await ensureRunning();
    const outcome = await invoke({
      ...request('logical', 'resumed'),
      deadlineMs: INTERRUPT_S * 1000,
    });
    if (outcome?.ok) resumedDone = true;
    else
      log(
        `  invocation ${invocations} ${outcome?.stopped ? 'stopped at its deadline' : 'failed'}: ${(outcome?.detail ?? 'no outcome').slice(0, 160)}`,
      );
  }
  const resumedS = (performance.now() - t0) / 1000;
  log(
    `  resumed: ${resumedS.toFixed(1)} s in ${invocations} invocation(s)${resumedDone ? '' : ' (NOT finished)'}`,
  );
  memoryOf('resumed');
  const resumedOk = resumedDone && (await verify('resumed'));

  log(
    `bench process itself (tsx, harness; not the function's): peak rss ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB`,
  );
  const r2 = (n: number) => Math.round(n * 100) / 100;
  log(
    `load now ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  console.log(
    JSON.stringify({
      bench: 'reseed-scale',
      gb,
      logicalS: r2(logicalS),
      physicalS: r2(physicalS),
      ratioPhysicalVsLogical: r2(physicalS / logicalS),
      resumedS: resumedDone ? r2(resumedS) : null,
      resumeOverhead: resumedDone ? r2(resumedS / logicalS) : null,
      peakRssMb,
      checksumsMatch: logicalOk && physicalOk && resumedOk,
    }),
  );
} finally {
  await Promise.allSettled([cluster?.stop(), s3.stop()]);
  await rm(dir, { recursive: true, force: true });
}
