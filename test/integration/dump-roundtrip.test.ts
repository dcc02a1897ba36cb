/**
 * Dump and restore against real MariaDB servers and a real local S3 endpoint: every object kind and
 * data type survives byte for byte, our dump restores by hand with zcat | mariadb, and an operator's
 * mariadb-dump file loads through our restore.
 */
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDumpCommand, runRestoreCommand } from '../../functions/dump/cli.js';
import { dumpDatabase } from '../../functions/dump/dump.js';
import { loadSqlDump } from '../../functions/dump/load-sql.js';
import { restoreDump } from '../../functions/dump/restore.js';
import { UsageError } from '../../functions/errors.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import { openObjectStore } from '../../functions/storage/open-store.js';
import { checksums, createTypesSchema, detach, showCreates, TYPES_DB } from '../harness/s3-dump-fixtures.js';
import { type LocalS3, startLocalS3 } from '../harness/s3rver.js';

const run = promisify(execFile);

describe('dump and restore round trip', () => {
  let cluster: Cluster;
  let s3: LocalS3;
  let work: string;

  const source = () => ({
    host: cluster.servers[0]!.host,
    port: cluster.servers[0]!.port,
    ...cluster.credentials.watchdog,
  });
  const target = () => ({
    host: cluster.servers[1]!.host,
    port: cluster.servers[1]!.port,
    ...cluster.credentials.watchdog,
  });

  beforeAll(async () => {
    [cluster, s3] = await Promise.all([
      startCluster({ servers: 2, groups: 0, name: 'dump-roundtrip' }),
      startLocalS3(),
    ]);
    work = await mkdtemp(join(tmpdir(), 'dump-rt-'));
    await cluster.waitForReplication(cluster.servers[1]!);
    // The target is rebuilt from a dump: a standalone server, not a replica.
    await detach(cluster.servers[1]!);
    await createTypesSchema(cluster.servers[0]!, `\`${cluster.credentials.watchdog.user}\`@\`%\``);
  });
  afterAll(async () => {
    await Promise.allSettled([
      cluster?.stop(),
      s3?.stop(),
      work ? rm(work, { recursive: true, force: true }) : 0,
    ]);
  });

  it('restores every object kind and data type from S3 with equal checksums and SHOW CREATE output', async () => {
    const [db1, db2] = cluster.servers as [(typeof cluster.servers)[0], (typeof cluster.servers)[0]];
    const store = openObjectStore(`s3://${s3.bucket}/roundtrip/1`, {
      ...s3.storeOptions,
      checksumAlgorithm: 'CRC32',
    });
    const dump = await dumpDatabase({ source: source(), store, workers: 2, chunkRows: 500 });
    const m = dump.manifest;
    expect(m.schemas).toContain(TYPES_DB);
    expect(m.schemas).not.toContain('ongoing_failover');
    expect(m.gtid.position).toBe((await cluster.gtidState(db1)).binlogPos);
    const bigChunks = m.objects.filter((o) => o.kind === 'data' && o.table === 'big');
    expect(bigChunks.length).toBeGreaterThan(3);
    expect(bigChunks.reduce((a, o) => a + o.rows, 0)).toBe(3000);
    expect(m.objects.map((o) => o.kind)).toEqual(
      expect.arrayContaining(['schema', 'data', 'routines', 'views', 'triggers', 'events']),
    );

    const restored = await restoreDump({ target: target(), store, workers: 2, replace: true });
    expect(restored.gtidPosition).toBe(m.gtid.position);
    expect((await cluster.gtidState(db2)).slavePos).toBe(m.gtid.position);

    expect(await checksums(db2, m.schemas)).toEqual(await checksums(db1, m.schemas));
    expect(await showCreates(db2, TYPES_DB)).toEqual(await showCreates(db1, TYPES_DB));
    // Generated columns are computed by the target, not copied.
    const [gen] = await db2.query<{ gen_v: number; gen_s: string }[]>(
      `SELECT gen_v, gen_s FROM ${TYPES_DB}.t_all WHERE id = 1000`,
    );
    expect(gen).toEqual({ gen_v: 2000, gen_s: 'emoji 😀 𝄞 é ß 中文!' });
    const [next] = await db2.query<{ v: number }[]>(`SELECT NEXTVAL(${TYPES_DB}.seq1) AS v`);
    const [seqSrc] = await db1.query<{ v: number }[]>(`SELECT NEXTVAL(${TYPES_DB}.seq1) AS v`);
    expect(Number(next?.v)).toBe(Number(seqSrc?.v));

    // Routines are callable and triggers fire on the restored server.
    const c = await db2.connect();
    try {
      await c.query(`CALL ${TYPES_DB}.count_children(2, @n)`);
      const [n] = await c.query(`SELECT @n AS n, ${TYPES_DB}.twice(21) AS t`);
      expect((n as unknown[])[0]).toEqual({ n: '2', t: 42 });
    } finally {
      await c.end();
    }
    await db2.query(`INSERT INTO ${TYPES_DB}.child (parent_id, note) VALUES (1, 'new')`);
    const [trg] = await db2.query<{ stamp: string }[]>(
      `SELECT stamp FROM ${TYPES_DB}.child WHERE note = 'new'`,
    );
    expect(trg?.stamp).toBe('trg;new');
    // The restore did not write the target's binary log: RESET MASTER emptied it, and the NEXTVAL and
    // the insert above are its only events (numbered after the restored position).
    const seq = Number(m.gtid.position.split('-')[2]);
    expect((await cluster.gtidState(db2)).binlogPos).toBe(`0-2-${seq + 2}`);
  });

  it('restores by hand with zcat | mariadb from a folder dump', async () => {
    const [db1, db2] = cluster.servers as [(typeof cluster.servers)[0], (typeof cluster.servers)[0]];
    const dir = join(work, 'by-hand');
    const dump = await dumpDatabase({ source: source(), store: openObjectStore(dir), chunkRows: 700 });
    await db2.query(`DROP DATABASE IF EXISTS ${TYPES_DB}`);
    await run('bash', [
      '-c',
      `set -o pipefail; cd "$1" && for f in $(find . -name '*.sql.gz' | sort); do zcat "$f"; done | mariadb --comments --socket="$2" -uroot --init-command='SET sql_log_bin=0'`,
      'restore',
      dir,
      db2.socketPath,
    ]);
    expect(await checksums(db2, dump.manifest.schemas)).toEqual(await checksums(db1, dump.manifest.schemas));
    expect(await showCreates(db2, TYPES_DB)).toEqual(await showCreates(db1, TYPES_DB));
  });

  it('loads a gzipped mariadb-dump file with DELIMITER blocks through our restore', async () => {
    const [db1, db2] = cluster.servers as [(typeof cluster.servers)[0], (typeof cluster.servers)[0]];
    const file = join(work, 'mariadb-dump.sql.gz');
    await run('bash', [
      '-c',
      `set -o pipefail; mariadb-dump --socket="$1" -uroot --single-transaction --routines --events --triggers --hex-blob --databases ${TYPES_DB} | gzip -1 > "$2"`,
      'dump',
      db1.socketPath,
      file,
    ]);
    await db2.query(`DROP DATABASE IF EXISTS ${TYPES_DB}`);
    const r = await loadSqlDump({ target: target(), source: createReadStream(file), name: file });
    expect(r.statements).toBeGreaterThan(20);
    expect(await checksums(db2, [TYPES_DB])).toEqual(await checksums(db1, [TYPES_DB]));
    const creates = await showCreates(db2, TYPES_DB);
    const expected = await showCreates(db1, TYPES_DB);
    for (const k of Object.keys(expected).filter((k) => !k.startsWith('table seq')))
      expect(creates[k]).toBe(expected[k]);
  });

  it('dumps and restores through the repl-watchdog dump and restore commands', async () => {
    const [db1, db2] = cluster.servers as [(typeof cluster.servers)[0], (typeof cluster.servers)[0]];
    const dir = join(work, 'cli');
    const lines: string[] = [];
    const ctx = { credentials: cluster.credentials.watchdog, log: (l: string) => lines.push(l) };
    const dumped = await runDumpCommand(['--from', db1.address, '--to', dir, '--schemas', TYPES_DB], ctx);
    expect(dumped?.manifest.schemas).toEqual([TYPES_DB]);
    await expect(runDumpCommand(['--from', db1.address, '--to', dir], ctx)).rejects.toThrow(
      /already holds a dump/,
    );
    await expect(runRestoreCommand(['--from', dir], ctx)).rejects.toBeInstanceOf(UsageError);
    // db2 is a writable replica of db1: overwriting it takes --force (restore-guard.ts).
    const into = ['--from', dir, '--into', db2.address, '--set-gtid', '--force'];
    await expect(runRestoreCommand(into, ctx)).rejects.toThrow(/replace/);
    await runRestoreCommand([...into, '--replace'], ctx);
    expect(lines.filter((l) => /^(dump|restore) done/.test(l))).toHaveLength(2);
    expect(await checksums(db2, [TYPES_DB])).toEqual(await checksums(db1, [TYPES_DB]));
  });
});
