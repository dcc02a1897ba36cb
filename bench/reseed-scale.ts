/**
 * Reseed at scale: one sysbench data set (default 8 tables x 2,000,000 rows) rebuilt onto the replica
 * three ways in one run, each followed by replication from the source and CHECKSUM TABLE on every table:
 *   logical   the function's logical reseed (operations/reseed.ts: streaming dump to a local S3
 *             endpoint, restore), uninterrupted
 *   physical  the physical reseed as the function orchestrates it (physical/orchestrate.ts): the real
 *             host script through the local adapter, mariadb-backup streamed through the same S3
 *             endpoint, the harness stopping and starting the target
 *   resumed   the logical reseed interrupted every --interrupt-every seconds (a simulated deadline: the
 *             run stops, a new invocation continues from what is stored)
 * peakRssMb is this process's (the function's) peak; the hosts' helper processes are not in it.
 * The last line is one JSON object.
 *
 *   node bin/run-ts.mjs bench/reseed-scale.ts [--tables 8] [--rows 2000000] [--interrupt-every 60]
 *     [--max-invocations 30]
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { type Config, parseConfig } from '../functions/config/schema.js';
import { connectCoordinationDb } from '../functions/election/db.js';
import { errorMessage } from '../functions/errors.js';
import { connectAdmin } from '../functions/operations/admin.js';
import { physicalReseed } from '../functions/operations/physical/orchestrate.js';
import { replaySourceOf, reseed } from '../functions/operations/reseed.js';
import { type Cluster, startCluster } from '../functions/sandbox/harness/index.js';
import type { ObjectStore } from '../functions/storage/object-store.js';
import { openObjectStore } from '../functions/storage/open-store.js';
import { physicalHosts } from '../test/harness/physical-hosts.js';
import { startLocalS3 } from '../test/harness/s3rver.js';

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
const DB = 'sbtest';

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Where this process's memory goes: the peak of each part of process.memoryUsage() per phase. */
const mib = (n: number) => Math.round(n / 2 ** 20);
let phasePeak = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
const sampler = setInterval(() => {
  const m = process.memoryUsage();
  for (const k of Object.keys(phasePeak) as (keyof typeof phasePeak)[])
    phasePeak[k] = Math.max(phasePeak[k], m[k]);
}, 100);
sampler.unref();
function memoryOf(phase: string): void {
  const p = phasePeak;
  log(
    `  memory during ${phase}: peak rss ${mib(p.rss)} MiB, heap ${mib(p.heapUsed)}/${mib(p.heapTotal)} MiB, external ${mib(p.external)} MiB (array buffers ${mib(p.arrayBuffers)} MiB)`,
  );
  phasePeak = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
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
  const config: Config = parseConfig(
    {
      ...cluster.config(),
      groups: [{ name: 'bench', routerKind: 'haproxy', routers: ['127.0.0.1:9'] }],
      objectStore: `s3://${s3.bucket}/bench`,
    },
    'bench',
  );
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
  memoryOf('setup and prepare');
  const expected = await checksums(source);
  const watchdog = { ...config.credentials.watchdog! };

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
  const logical = async (store: ObjectStore, signal?: AbortSignal) => {
    const [t, s] = await Promise.all([
      connectAdmin(config, target.address),
      connectAdmin(config, source.address),
    ]);
    try {
      return await reseed({
        target: t,
        source: s,
        store,
        watchdog,
        replication: replaySourceOf(config, source.address, config.credentials.replication!),
        ...(signal ? { signal } : {}),
      });
    } finally {
      await Promise.all([t.close(), s.close()]);
    }
  };

  log('logical: dump to s3rver and restore, one invocation');
  let t0 = performance.now();
  await logical(openObjectStore(`s3://${s3.bucket}/logical`, s3.storeOptions));
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
  const db = await connectCoordinationDb({ host: source.host, port: source.port, ...watchdog });
  const sessions: Awaited<ReturnType<typeof connectAdmin>>[] = [];
  t0 = performance.now();
  try {
    await physicalReseed({
      db,
      openedEpoch: 1,
      source: source.address,
      target: target.address,
      commands: hosts,
      store: openObjectStore(`s3://${s3.bucket}/physical`, s3.storeOptions),
      key: 'bench/backup.xb.gz',
      connectSource: async () => {
        const admin = await connectAdmin(config, source.address);
        sessions.push(admin);
        return admin;
      },
      connectTarget: async () => {
        const admin = await connectAdmin(config, target.address);
        sessions.push(admin);
        return admin;
      },
      beforeRestore: async () => {},
      signal: new AbortController().signal,
      pollMs: 1_000,
      log: (message, extra) => {
        if (message.endsWith('progress') && typeof extra?.line === 'string') log(`  ${extra.line}`);
        else log(`  ${message} ${JSON.stringify(extra ?? {})}`);
      },
    });
  } finally {
    await Promise.all([db.close(), ...sessions.map((a) => a.close())]);
  }
  const physicalS = (performance.now() - t0) / 1000;
  log(`  physical: ${physicalS.toFixed(1)} s`);
  memoryOf('physical');
  const physicalOk =
    (await checksums(target)).join() === (await checksums(source)).join() && (await verify('physical'));

  log(`resumed: the logical reseed stopped every ${INTERRUPT_S} s, continued by a new invocation`);
  const resumedStore = openObjectStore(`s3://${s3.bucket}/resumed`, s3.storeOptions);
  t0 = performance.now();
  let invocations = 0;
  let resumedDone = false;
  while (!resumedDone && invocations < MAX_INVOCATIONS) {
    invocations++;
    await ensureRunning();
    try {
      await logical(resumedStore, AbortSignal.timeout(INTERRUPT_S * 1000));
      resumedDone = true;
    } catch (error) {
      log(`  invocation ${invocations} stopped: ${errorMessage(error).slice(0, 160)}`);
    }
  }
  const resumedS = (performance.now() - t0) / 1000;
  log(
    `  resumed: ${resumedS.toFixed(1)} s in ${invocations} invocation(s)${resumedDone ? '' : ' (NOT finished)'}`,
  );
  memoryOf('resumed');
  const resumedOk = resumedDone && (await verify('resumed'));

  const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
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
