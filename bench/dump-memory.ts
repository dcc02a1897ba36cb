/**
 * Dump and restore memory: peak RSS stays flat as a table grows, because dump and restore stream rows
 * through gzip and the multipart upload with backpressure. The same table at two sizes is dumped to a
 * local S3 endpoint (s3rver) as one object and restored, each time in a fresh child process whose own
 * peak RSS is the figure (bench/dump-memory-child.ts).
 *
 *   npm run bench:dump-memory [-- --small 30000 --large 200000]
 *
 * Goal: the large run's peak RSS within GROWTH_GOAL_MB of the small one's and below PEAK_GOAL_MB.
 * Holding the object (or its rows) would add at least the ~57 MB of extra SQL of the large table; what
 * does grow (8 to 25 MB in our runs) is allocator and garbage-collector slack of a longer run. The last
 * line is one JSON object; the exit code is 1 when a goal is missed.
 */
import { execFile } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { startCluster } from '../functions/sandbox/harness/index.js';
import { detach } from '../test/harness/s3-dump-fixtures.js';
import { startLocalS3 } from '../test/harness/s3rver.js';

const GROWTH_GOAL_MB = 35;
const PEAK_GOAL_MB = 200;
const DB = 'app_memory';

const run = promisify(execFile);
const { values } = parseArgs({ options: { small: { type: 'string' }, large: { type: 'string' } } });
const SMALL = Number(values.small ?? 30_000);
const LARGE = Number(values.large ?? 200_000);

interface Figures {
  rows: number;
  bytes: number;
  objects: number;
  maxRssMb: number;
}

const [cluster, s3] = await Promise.all([
  startCluster({ servers: 2, groups: 0, name: 'bench-dump-memory' }),
  startLocalS3(),
]);
try {
  const [db1, db2] = cluster.servers;
  await cluster.waitForReplication(db2!);
  await detach(db2!);
  await db1!.query(`CREATE DATABASE ${DB}`);
  await db1!.query(
    `CREATE TABLE ${DB}.t (id INT PRIMARY KEY, a VARCHAR(300), b VARBINARY(64)) ENGINE=InnoDB`,
  );
  process.stderr.write(
    `machine: ${cpus().length} cores, node ${process.version}, load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}\n`,
  );

  const measure = async (rows: number): Promise<Figures> => {
    await db1!.query(`TRUNCATE ${DB}.t`);
    await db1!.query(
      `INSERT INTO ${DB}.t SELECT seq, CONCAT(SHA2(seq, 512), SHA2(seq + 7, 256)), UNHEX(SHA2(seq + 3, 512))
         FROM ${DB}.seq_1_to_${rows}`,
    );
    const who = (i: number) => ({
      host: cluster.servers[i]!.host,
      port: cluster.servers[i]!.port,
      ...cluster.credentials.watchdog,
    });
    const config = {
      source: who(0),
      target: who(1),
      url: `s3://${s3.bucket}/memory-${rows}`,
      storeOptions: s3.storeOptions,
      schema: DB,
    };
    const { stdout } = await run(
      process.execPath,
      [resolve('bin/run-ts.mjs'), resolve('bench/dump-memory-child.ts'), JSON.stringify(config)],
      { maxBuffer: 1 << 20 },
    );
    const figures = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Figures;
    process.stderr.write(
      `${rows} rows: ${figures.bytes} SQL bytes in ${figures.objects} object(s), peak RSS ${figures.maxRssMb} MB\n`,
    );
    if (figures.rows !== rows) throw new Error(`restored ${figures.rows} rows of ${rows}`);
    return figures;
  };

  const small = await measure(SMALL);
  const large = await measure(LARGE);
  const growthMb = large.maxRssMb - small.maxRssMb;
  const goalMet = growthMb < GROWTH_GOAL_MB && large.maxRssMb < PEAK_GOAL_MB;
  console.log(
    JSON.stringify({
      bench: 'dump-memory',
      smallRows: small.rows,
      largeRows: large.rows,
      smallBytes: small.bytes,
      largeBytes: large.bytes,
      smallPeakRssMb: small.maxRssMb,
      largePeakRssMb: large.maxRssMb,
      growthMb,
      goalMet,
    }),
  );
  process.exitCode = goalMet ? 0 : 1;
} finally {
  await Promise.allSettled([cluster.stop(), s3.stop()]);
}
