/**
 * A table far bigger than one multipart part, dumped to a real local S3 endpoint as one streamed
 * object and restored row for row. How much memory that takes (peak RSS flat as the table grows) is a
 * figure, measured by `npm run bench:dump-memory`, not asserted here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpDatabase } from '../../functions/dump/dump.js';
import { restoreDump } from '../../functions/dump/restore.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import { openObjectStore } from '../../functions/storage/open-store.js';
import { checksums, detach } from '../harness/s3-dump-fixtures.js';
import { type LocalS3, startLocalS3 } from '../harness/s3rver.js';

const DB = 'app_memory';
const ROWS = 200_000;

describe('a large table as one streamed object', () => {
  let cluster: Cluster;
  let s3: LocalS3;

  beforeAll(async () => {
    [cluster, s3] = await Promise.all([
      startCluster({ servers: 2, groups: 0, name: 'dump-memory' }),
      startLocalS3(),
    ]);
    await cluster.waitForReplication(cluster.servers[1]!);
    await detach(cluster.servers[1]!);
    const db1 = cluster.servers[0]!;
    await db1.query(`CREATE DATABASE ${DB}`);
    await db1.query(
      `CREATE TABLE ${DB}.t (id INT PRIMARY KEY, a VARCHAR(300), b VARBINARY(64)) ENGINE=InnoDB`,
    );
    await db1.query(
      `INSERT INTO ${DB}.t SELECT seq, CONCAT(SHA2(seq, 512), SHA2(seq + 7, 256)), UNHEX(SHA2(seq + 3, 512))
         FROM ${DB}.seq_1_to_${ROWS}`,
    );
  });
  afterAll(async () => {
    await Promise.allSettled([cluster?.stop(), s3?.stop()]);
  });

  it('dumps a 200,000-row table as one object and restores it with an equal checksum', async () => {
    const who = (i: number) => ({
      host: cluster.servers[i]!.host,
      port: cluster.servers[i]!.port,
      ...cluster.credentials.watchdog,
    });
    const store = openObjectStore(`s3://${s3.bucket}/large`, s3.storeOptions);
    const dump = await dumpDatabase({ source: who(0), store, schemas: [DB], chunkRows: 1e9 });
    const data = dump.manifest.objects.filter((o) => o.kind === 'data');
    expect(data).toHaveLength(1);
    expect(data[0]!.rows).toBe(ROWS);
    // Bigger than two 8 MiB multipart parts once compressed: it went up in parts.
    expect(data[0]!.compressedBytes).toBeGreaterThan(2 * 8 * 2 ** 20);
    const restored = await restoreDump({ target: who(1), store, replace: true, setGtid: false });
    expect(restored.summary.rows).toBe(ROWS);
    expect(await checksums(cluster.servers[1]!, [DB])).toEqual(await checksums(cluster.servers[0]!, [DB]));
  });
});
