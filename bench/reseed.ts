/**
 * Reseed benchmark: the same sysbench data moved from one server to an empty one three ways.
 *   (a) the seed's way: mariadb-dump --single-transaction | gzip > file, then gunzip | mariadb
 *   (b) mydumper -t 2 -c, then myloader -t 2
 *   (c) ours: dumpDatabase to a local S3 endpoint (s3rver), then restoreDump into the empty server
 * Each time covers dump + restore. (c) is checked with CHECKSUM TABLE against the source. The last
 * line is one JSON object with the figures.
 *
 *   node bin/run-ts.mjs bench/reseed.ts [--tables 8] [--rows 200000] [--workers 2]
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { dumpDatabase } from '../functions/dump/dump.js';
import { formatProgress } from '../functions/dump/progress.js';
import { restoreDump } from '../functions/dump/restore.js';
import { freePort, MariadbServer } from '../functions/sandbox/harness/index.js';
import { openObjectStore } from '../functions/storage/open-store.js';
import { startLocalS3 } from '../test/harness/s3rver.js';

const run = promisify(execFile);
const { values } = parseArgs({
  options: { tables: { type: 'string' }, rows: { type: 'string' }, workers: { type: 'string' } },
});
const TABLES = Number(values.tables ?? 8);
const ROWS = Number(values.rows ?? 200_000);
const WORKERS = Number(values.workers ?? 2);
const DB = 'sbtest';

// The same server settings for every approach: a buffer pool that holds the data set, and the
// default durability (innodb_flush_log_at_trx_commit=1) — nothing tuned in our favour.
const SERVER_ARGS = [
  '--innodb-buffer-pool-size=1G',
  '--innodb-log-file-size=512M',
  '--max-allowed-packet=64M',
];

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function timed<T>(label: string, fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await fn();
  const s = (performance.now() - t0) / 1000;
  log(`  ${label}: ${s.toFixed(2)} s`);
  return [r, s];
}

async function sh(script: string, ...args: string[]): Promise<void> {
  await run('bash', ['-c', `set -euo pipefail; ${script}`, 'bench', ...args], {
    maxBuffer: 64 * 1024 * 1024,
  });
}

async function checksums(server: MariadbServer): Promise<string[]> {
  const out: string[] = [];
  for (let i = 1; i <= TABLES; i++) {
    const [r] = await server.query<{ Checksum: unknown }[]>(`CHECKSUM TABLE ${DB}.sbtest${i}`);
    out.push(String(r?.Checksum));
  }
  return out;
}

async function emptyTarget(target: MariadbServer): Promise<void> {
  await target.query(`DROP DATABASE IF EXISTS ${DB}`);
  await target.query('RESET MASTER');
}

const dir = await mkdtemp(join(tmpdir(), 'bench-reseed-'));
const servers = [1, 2].map(
  (id) =>
    new MariadbServer({
      name: `db${id}`,
      serverId: id,
      clusterDir: dir,
      port: 0,
      extraArgs: SERVER_ARGS,
    }),
);
const [source, target] = servers as [MariadbServer, MariadbServer];
const s3 = await startLocalS3({ bucket: 'reseed' });
try {
  for (const s of servers) {
    s.setPort(await freePort());
    await s.initialise();
    await s.start();
  }
  log(
    `machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}, load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  log(`preparing ${TABLES} tables x ${ROWS} rows with sysbench oltp_read_write prepare`);
  await source.query(`CREATE DATABASE ${DB}`);
  await sh(
    `sysbench oltp_read_write --db-driver=mysql --mysql-socket="$1" --mysql-user=root --mysql-db=${DB} --tables=${TABLES} --table-size=${ROWS} --threads=2 prepare >/dev/null`,
    source.socketPath,
  );
  const expected = await checksums(source);
  const rows = TABLES * ROWS;

  log('(a) seed: mariadb-dump --single-transaction | gzip, then gunzip | mariadb');
  const seedFile = join(dir, 'seed.sql.gz');
  await emptyTarget(target);
  const [, seedDump] = await timed('dump', () =>
    sh(
      `mariadb-dump --socket="$1" -uroot --single-transaction --databases ${DB} | gzip > "$2"`,
      source.socketPath,
      seedFile,
    ),
  );
  const [, seedLoad] = await timed('restore', () =>
    sh(`gunzip -c "$2" | mariadb --socket="$1" -uroot`, target.socketPath, seedFile),
  );
  const seedS = seedDump + seedLoad;
  const seedOk = (await checksums(target)).join() === expected.join();

  log('(b) mydumper -t 2 -c, then myloader -t 2');
  const mdDir = join(dir, 'mydumper');
  await emptyTarget(target);
  const [, mdDump] = await timed('dump', () =>
    sh(`mydumper --socket "$1" -u root -t 2 -c -B ${DB} -o "$2"`, source.socketPath, mdDir),
  );
  const [, mdLoad] = await timed('restore', () =>
    sh(`myloader --socket "$1" -u root -t 2 -d "$2"`, target.socketPath, mdDir),
  );
  const mydumperS = mdDump + mdLoad;
  const mdOk = (await checksums(target)).join() === expected.join();

  log(`(c) ours: dump to s3rver (${WORKERS} workers, gzip level 1), restore (${WORKERS} loaders)`);
  await emptyTarget(target);
  const store = openObjectStore(`s3://${s3.bucket}/bench`, {
    ...s3.storeOptions,
    checksumAlgorithm: 'CRC32',
  });
  const root = (s: MariadbServer) => ({ socketPath: s.socketPath, user: 'root', password: '' });
  const [dump, oursDump] = await timed('dump', () =>
    dumpDatabase({ source: root(source), store, workers: WORKERS, schemas: [DB] }),
  );
  log(`  ${formatProgress(dump.summary)}`);
  const [restored, oursLoad] = await timed('restore', () =>
    restoreDump({ target: root(target), store, workers: WORKERS, setGtid: true }),
  );
  log(`  ${formatProgress(restored.summary)}`);
  const oursS = oursDump + oursLoad;
  const checksumsMatch = (await checksums(target)).join() === expected.join();
  const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
  log(
    `checksums: seed ${seedOk}, mydumper ${mdOk}, ours ${checksumsMatch}; load now ${loadavg()[0]?.toFixed(1)}`,
  );

  const r2 = (n: number) => Math.round(n * 100) / 100;
  console.log(
    JSON.stringify({
      bench: 'reseed',
      rows,
      seedS: r2(seedS),
      mydumperS: r2(mydumperS),
      oursS: r2(oursS),
      ratioVsSeed: r2(oursS / seedS),
      ratioVsMydumper: r2(oursS / mydumperS),
      peakRssMb,
      checksumsMatch,
    }),
  );
} finally {
  await Promise.allSettled([...servers.map((s) => s.stop()), s3.stop()]);
  await rm(dir, { recursive: true, force: true });
}
