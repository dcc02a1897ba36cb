/**
 * Memory stays flat as a table grows: dump and restore stream rows through gzip and the multipart
 * upload with backpressure, so peak RSS does not follow the table's size. Measured in a child
 * process (its own peak RSS) for two sizes of the same table, each one single object.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import { detach } from '../harness/s3-dump-fixtures.js';
import { type LocalS3, startLocalS3 } from '../harness/s3rver.js';

const run = promisify(execFile);
const DB = 'app_memory';

describe('dump and restore memory', () => {
  let cluster: Cluster;
  let s3: LocalS3;

  beforeAll(async () => {
    [cluster, s3] = await Promise.all([
      startCluster({ servers: 2, groups: 0, name: 'dump-memory' }),
      startLocalS3(),
    ]);
    await cluster.waitForReplication(cluster.servers[1]!);
    await detach(cluster.servers[1]!);
    await cluster.servers[0]!.query(`CREATE DATABASE ${DB}`);
    await cluster.servers[0]!.query(
      `CREATE TABLE ${DB}.t (id INT PRIMARY KEY, a VARCHAR(300), b VARBINARY(64)) ENGINE=InnoDB`,
    );
  });
  afterAll(async () => {
    await Promise.allSettled([cluster?.stop(), s3?.stop()]);
  });

  async function measure(rows: number): Promise<{ rows: number; bytes: number; maxRssMb: number }> {
    const db1 = cluster.servers[0]!;
    await db1.query(`TRUNCATE ${DB}.t`);
    await db1.query(
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
      [resolve('bin/run-ts.mjs'), resolve('test/harness/s3-dump-child.ts'), JSON.stringify(config)],
      { maxBuffer: 1 << 20 },
    );
    const last = stdout.trim().split('\n').pop() ?? '{}';
    return JSON.parse(last) as { rows: number; bytes: number; maxRssMb: number };
  }

  it('keeps peak RSS flat when the table grows sevenfold', async () => {
    // The small size already fills the multipart buffers (8 MiB parts), so only growth with the
    // table's size shows up in the difference.
    const small = await measure(30_000);
    const large = await measure(200_000);
    console.log(
      `peak RSS: ${small.bytes} B -> ${small.maxRssMb} MB; ${large.bytes} B -> ${large.maxRssMb} MB`,
    );
    expect(small.rows).toBe(30_000);
    expect(large.rows).toBe(200_000);
    expect(large.bytes).toBeGreaterThan(small.bytes * 6);
    // Holding the object (or its rows) would add at least the 57 MB of extra SQL; what does grow
    // (8 to 25 MB in our runs) is allocator and garbage-collector slack of a longer run.
    expect(large.maxRssMb).toBeLessThan(small.maxRssMb + 35);
    expect(large.maxRssMb).toBeLessThan(200);
  });
});
