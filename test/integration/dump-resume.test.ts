/**
 * Deadlines, resumption, integrity and consistency of dumps against real MariaDB servers:
 * a restore aborted at random points resumes without duplicating a row, a dump that is incomplete,
 * truncated, corrupt or does not match its manifest is refused, and a dump taken under a concurrent
 * writer holds exactly the rows of its GTID position (replication started from it converges).
 */
import { cp, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpDatabase } from '../../functions/dump/dump.js';
import { restoreDump } from '../../functions/dump/restore.js';
import { DeadlineError, DumpIntegrityError } from '../../functions/errors.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import type { ObjectStore } from '../../functions/storage/object-store.js';
import { openObjectStore } from '../../functions/storage/open-store.js';
import { checksums, createResumeTables, detach } from '../harness/s3-dump-fixtures.js';
import { type LocalS3, startLocalS3 } from '../harness/s3rver.js';
import { pollUntil } from '../harness/wait.js';

const DB = 'app_resume';

/** Passes every call through; aborts `ctl` once `afterBytes` bytes were read from the store. */
function abortingReads(inner: ObjectStore, afterBytes: number, ctl: AbortController): ObjectStore {
  let seen = 0;
  return {
    url: inner.url,
    put: (k, b, o) => inner.put(k, b, o),
    head: (k) => inner.head(k),
    list: (p) => inner.list(p),
    delete: (k) => inner.delete(k),
    async get(key, options) {
      const body = await inner.get(key, options);
      return body.pipe(
        new Transform({
          transform(chunk: Buffer, _e, cb) {
            seen += chunk.length;
            if (seen >= afterBytes && !ctl.signal.aborted) ctl.abort(new Error('deadline near'));
            cb(null, chunk);
          },
        }),
      );
    },
  };
}

/** Aborts `ctl` when the `n`-th object upload starts. */
function abortingWrites(inner: ObjectStore, n: number, ctl: AbortController): ObjectStore {
  let puts = 0;
  return {
    url: inner.url,
    put: (k, b, o) => {
      if (++puts === n) ctl.abort(new Error('deadline near'));
      return inner.put(k, b, o);
    },
    get: (k, o) => inner.get(k, o),
    head: (k) => inner.head(k),
    list: (p) => inner.list(p),
    delete: (k) => inner.delete(k),
  };
}

describe('dump deadlines, resumption, integrity and consistency', () => {
  let cluster: Cluster;
  let s3: LocalS3;
  let work: string;
  const who = (i: number) => ({
    host: cluster.servers[i]!.host,
    port: cluster.servers[i]!.port,
    ...cluster.credentials.watchdog,
  });

  beforeAll(async () => {
    [cluster, s3] = await Promise.all([
      startCluster({ servers: 2, groups: 0, name: 'dump-resume' }),
      startLocalS3(),
    ]);
    work = await mkdtemp(join(tmpdir(), 'dump-resume-'));
    await cluster.waitForReplication(cluster.servers[1]!);
    await detach(cluster.servers[1]!);
    // heap has no primary key: one object, cleared as a whole before a retry.
    await createResumeTables(cluster.servers[0]!, DB, { big: 20000, heap: 6000 });
  });
  afterAll(async () => {
    await Promise.allSettled([
      cluster?.stop(),
      s3?.stop(),
      work ? rm(work, { recursive: true, force: true }) : 0,
    ]);
  });

  it('resumes a restore aborted at random points without redoing finished objects or duplicating rows', async () => {
    const [db1, db2] = cluster.servers as [(typeof cluster.servers)[0], (typeof cluster.servers)[0]];
    const store = openObjectStore(`s3://${s3.bucket}/resume`, s3.storeOptions);
    const { manifest } = await dumpDatabase({
      source: who(0),
      store,
      workers: 2,
      chunkRows: 2000,
      schemas: [DB],
    });
    const total = manifest.totals.compressedBytes;
    let seed = Date.now() % 100_000;
    const random = () => {
      seed = (seed * 48271) % 2147483647;
      return seed / 2147483647;
    };
    console.log(`abort points seed ${seed}`);
    let aborts = 0;
    let finished: Awaited<ReturnType<typeof restoreDump>> | null = null;
    for (let round = 0; round < 3 && !finished; round++) {
      const ctl = new AbortController();
      // Round 0 stops within the first 40% of the bytes; later rounds may run to the end.
      const at = Math.floor(total * (0.1 + 0.3 * random()) * (round + 1));
      const outcome = await restoreDump({
        target: who(1),
        store: abortingReads(store, at, ctl),
        replace: round === 0,
        signal: ctl.signal,
      }).then(
        (r) => r,
        (e: unknown) => e,
      );
      if (outcome instanceof Error) {
        expect(outcome).toBeInstanceOf(DeadlineError);
        aborts++;
      } else finished = outcome as Awaited<ReturnType<typeof restoreDump>>;
    }
    expect(aborts).toBeGreaterThan(0);
    const done = finished ?? (await restoreDump({ target: who(1), store }));
    expect(done.resumed).toBe(true);
    expect(done.objectsSkipped + done.objectsLoaded).toBe(manifest.objects.length);
    expect(await checksums(db2, [DB])).toEqual(await checksums(db1, [DB]));
    const [n] = await db2.query<{ n: number }[]>(`SELECT COUNT(*) AS n FROM ${DB}.heap`);
    expect(Number(n?.n)).toBe(6000);
    const [cp] = await db2.query<{ n: number }[]>(
      'SELECT COUNT(*) AS n FROM ongoing_failover.restore_checkpoint',
    );
    expect(Number(cp?.n)).toBe(0);
  });

  it('stops a dump cleanly at the deadline and leaves no manifest behind', async () => {
    const store = openObjectStore(join(work, 'aborted-dump'));
    const ctl = new AbortController();
    const error = await dumpDatabase({
      source: who(0),
      store: abortingWrites(store, 3, ctl),
      chunkRows: 2000,
      schemas: [DB],
      signal: ctl.signal,
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DeadlineError);
    expect(await store.head('manifest.json')).toBeUndefined();
    expect(await store.list('')).toEqual([]);
  });

  describe('refuses dumps that are incomplete, truncated, corrupt or do not match their manifest', () => {
    let good: string;
    const variant = async (name: string) => {
      const dir = join(work, name);
      await cp(good, dir, { recursive: true });
      return dir;
    };
    const targetHasDb = async () =>
      (await cluster.servers[1]!.query<unknown[]>(`SHOW DATABASES LIKE '${DB}'`)).length > 0;

    beforeAll(async () => {
      good = join(work, 'good');
      await dumpDatabase({ source: who(0), store: openObjectStore(good), chunkRows: 2000, schemas: [DB] });
    });

    it('refuses a dump without manifest.json before touching the target', async () => {
      await cluster.servers[1]!.query(`DROP DATABASE IF EXISTS ${DB}`);
      const dir = await variant('no-manifest');
      await rm(join(dir, 'manifest.json'));
      await expect(restoreDump({ target: who(1), store: openObjectStore(dir) })).rejects.toThrow(
        /no manifest\.json/,
      );
      expect(await targetHasDb()).toBe(false);
    });

    it('refuses a manifest of another format version or with inconsistent totals', async () => {
      const dir = await variant('wrong-manifest');
      const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
      await writeFile(join(dir, 'manifest.json'), JSON.stringify({ ...m, formatVersion: 99 }));
      await expect(restoreDump({ target: who(1), store: openObjectStore(dir) })).rejects.toThrow(
        /format version 99/,
      );
      await writeFile(join(dir, 'manifest.json'), JSON.stringify({ ...m, totals: { ...m.totals, rows: 1 } }));
      await expect(restoreDump({ target: who(1), store: openObjectStore(dir) })).rejects.toBeInstanceOf(
        DumpIntegrityError,
      );
      expect(await targetHasDb()).toBe(false);
    });

    it('refuses a truncated object before touching the target', async () => {
      const dir = await variant('truncated');
      const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
      const victim = m.objects.find((o: { kind: string }) => o.kind === 'data');
      await truncate(join(dir, victim.key), Math.floor(victim.compressedBytes / 2));
      await expect(restoreDump({ target: who(1), store: openObjectStore(dir) })).rejects.toThrow(
        /does not match its manifest: 0 object\(s\) missing, 1 with the wrong size/,
      );
      await rm(join(dir, m.objects[0].key));
      await expect(restoreDump({ target: who(1), store: openObjectStore(dir) })).rejects.toThrow(
        /1 object\(s\) missing/,
      );
      expect(await targetHasDb()).toBe(false);
    });

    it('refuses a corrupt object, leaves none of its rows and does not mark it done', async () => {
      const dir = await variant('corrupt');
      const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
      const victim = m.objects.find(
        (o: { kind: string; chunk?: number }) => o.kind === 'data' && o.chunk === 3,
      );
      const bytes = await readFile(join(dir, victim.key));
      // Same size, different bytes in the middle of the deflate stream.
      for (let i = 0; i < 64; i++) {
        const at = Math.floor(bytes.length / 2) + i;
        bytes[at] = (bytes[at] ?? 0) ^ 0x5a;
      }
      await writeFile(join(dir, victim.key), bytes);
      const error = await restoreDump({ target: who(1), store: openObjectStore(dir), replace: true }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(DumpIntegrityError);
      const db2 = cluster.servers[1]!;
      const [rows] = await db2.query<{ n: number }[]>(
        `SELECT COUNT(*) AS n FROM ${DB}.big WHERE ${victim.where}`,
      );
      expect(Number(rows?.n)).toBe(0);
      const marks = await db2.query<{ state: string }[]>(
        'SELECT state FROM ongoing_failover.restore_checkpoint WHERE object_key = ?',
        [victim.key],
      );
      expect(marks.map((r) => r.state)).not.toContain('done');
      // The intact dump then restores over it (a different dump: replace starts over).
      await restoreDump({ target: who(1), store: openObjectStore(good), replace: true });
      const [n] = await db2.query<{ n: number }[]>(`SELECT COUNT(*) AS n FROM ${DB}.big`);
      expect(Number(n?.n)).toBe(20000);
    });
  });

  it('dumps a consistent snapshot at its GTID position while a writer runs', async () => {
    const [db1, db2] = cluster.servers as [(typeof cluster.servers)[0], (typeof cluster.servers)[0]];
    const writer = await db1.connect();
    let writing = true;
    let writes = 0;
    const load = (async () => {
      while (writing) {
        await writer.query(`INSERT INTO ${DB}.w (n, t) VALUES (?, 'during')`, [writes]);
        await writer.query(`UPDATE ${DB}.w SET n = n + 1 WHERE id = ?`, [1 + (writes % 2000)]);
        await writer.query(`UPDATE ${DB}.big SET k = k + 1 WHERE id = ?`, [1 + ((writes * 7) % 20000)]);
        writes++;
      }
    })();
    try {
      // The dump starts under load, and the writer goes on after it: conditions, not pauses.
      await pollUntil(
        () => writes,
        (n) => n > 0,
        { intervalMs: 20 },
      );
      const store = openObjectStore(join(work, 'under-load'));
      const { manifest } = await dumpDatabase({
        source: who(0),
        store,
        workers: 2,
        chunkRows: 1500,
        schemas: [DB],
      });
      const afterDump = writes;
      await pollUntil(
        () => writes,
        (n) => n > afterDump,
        { intervalMs: 20 },
      );
      writing = false;
      await load;
      expect(writes).toBeGreaterThan(0);
      await restoreDump({ target: who(1), store, replace: true });
      expect((await cluster.gtidState(db2)).slavePos).toBe(manifest.gtid.position);
      // Replication from the dump's position must bring exactly the writes after it.
      await cluster.startReplication(db2, db1);
      await cluster.waitForReplication(db2);
      expect(await checksums(db2, [DB])).toEqual(await checksums(db1, [DB]));
    } finally {
      writing = false;
      await load.catch(() => undefined);
      await writer.end();
      await detach(db2).catch(() => undefined);
    }
  });
});
