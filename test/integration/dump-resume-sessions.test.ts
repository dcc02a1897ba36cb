/**
 * Dumps that resume, against real MariaDB under a concurrent writer: a dump stopped between parts,
 * in the middle of a part, and by a store outage is continued by new calls from the parts already
 * stored; the parts stand at several GTID positions, the restore replays the source's binary log
 * idempotently from the earliest to past the latest, and the rebuilt server replicates and equals the
 * source (CHECKSUM TABLE). The salvage backup resumes the same way.
 */
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, parseConfig } from '../../functions/config/schema.js';
import { dumpDatabase } from '../../functions/dump/dump.js';
import { MANIFEST_KEY } from '../../functions/dump/manifest.js';
import { loadVerifiedManifest, restoreDump } from '../../functions/dump/restore.js';
import { RESUME_PREFIX } from '../../functions/dump/resume-state.js';
import { DeadlineError } from '../../functions/errors.js';
import { connectAdmin } from '../../functions/operations/admin.js';
import { salvage } from '../../functions/operations/salvage.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import type { ObjectStore } from '../../functions/storage/object-store.js';
import { openObjectStore } from '../../functions/storage/open-store.js';
import { checksums, createResumeTables, detach } from '../harness/s3-dump-fixtures.js';
import { type LocalS3, startLocalS3 } from '../harness/s3rver.js';
import { pollUntil } from '../harness/wait.js';

const DB = 'app_sessions';
const isData = (key: string) => key.includes('10-data/');

/** Passes every call through; `onData(n, phase)` sees the n-th data object's upload start and end. */
function watchedStore(
  inner: ObjectStore,
  onData: (n: number, phase: 'start' | 'end', body: Readable) => void | Promise<void>,
): ObjectStore {
  let n = 0;
  // Everything else is the inner store's own (its methods through the prototype).
  const store = Object.create(inner) as ObjectStore;
  store.put = async (key, body, options) => {
    if (!isData(key)) return inner.put(key, body, options);
    const mine = ++n;
    await onData(mine, 'start', body);
    const r = await inner.put(key, body, options);
    await onData(mine, 'end', body);
    return r;
  };
  return store;
}

describe('dumps that resume across calls', () => {
  let cluster: Cluster;
  let s3: LocalS3;
  let config: Config;
  const who = (i: number) => ({
    host: cluster.servers[i]!.host,
    port: cluster.servers[i]!.port,
    ...cluster.credentials.watchdog,
  });

  beforeAll(async () => {
    [cluster, s3] = await Promise.all([
      startCluster({ servers: 2, groups: 0, name: 'dump-sessions' }),
      startLocalS3(),
    ]);
    config = parseConfig(
      { ...cluster.config(), groups: [{ name: 'g', routerKind: 'haproxy', routers: ['127.0.0.1:9'] }] },
      'test',
    );
    await cluster.waitForReplication(cluster.servers[1]!);
    await detach(cluster.servers[1]!);
    // heap has no primary key: read at the earliest position only.
    await createResumeTables(cluster.servers[0]!, DB, { big: 30000, heap: 3000 });
  }, 180_000);
  afterAll(async () => {
    await Promise.allSettled([cluster?.stop(), s3?.stop()]);
  });

  it('continues a dump stopped between parts, in a part and by a store outage; the restore replays to one position and equals the source', async () => {
    const [db1, db2] = cluster.servers as [(typeof cluster.servers)[0], (typeof cluster.servers)[0]];
    const writer = await db1.connect();
    let writing = true;
    let writes = 0;
    const load = (async () => {
      while (writing) {
        const i = writes;
        await writer.query(`INSERT INTO ${DB}.w (n, t) VALUES (?, 'during')`, [i]);
        await writer.query(`UPDATE ${DB}.w SET n = n + 1 WHERE id = ?`, [1 + (i % 2000)]);
        await writer.query(`UPDATE ${DB}.big SET k = k + 1, pad = CONCAT('u', ?) WHERE id = ?`, [
          i,
          1 + ((i * 7919) % 30000),
        ]);
        if (i % 5 === 0)
          await writer.query(`DELETE FROM ${DB}.big WHERE id = ?`, [1 + ((i * 104729) % 30000)]);
        if (i % 5 === 1) await writer.query(`INSERT INTO ${DB}.big (k, pad) VALUES (?, 'new')`, [i % 101]);
        if (i % 9 === 0) await writer.query(`INSERT INTO ${DB}.heap VALUES (?, 'during')`, [i]);
        writes++;
      }
    })();
    const moreWrites = async () => {
      const before = writes;
      await pollUntil(
        () => writes,
        (n) => n > before + 20,
        { intervalMs: 20, deadlineMs: 120_000 },
      );
    };
    const inner = openObjectStore(`s3://${s3.bucket}/sessions`, s3.storeOptions);
    const call = (store: ObjectStore, signal?: AbortSignal) =>
      dumpDatabase({
        source: who(0),
        store,
        workers: 2,
        chunkRows: 2000,
        schemas: [DB],
        resume: true,
        ...(signal ? { signal } : {}),
      });
    const failure = (p: Promise<unknown>) =>
      p.then(
        () => null,
        (e: unknown) => e,
      );
    const stored = async () => (await inner.list(`${RESUME_PREFIX}parts/`)).length;
    try {
      await moreWrites();

      // 1. Stopped between parts: the deadline strikes right after the 5th part is stored.
      const first = new AbortController();
      const e1 = await failure(
        call(
          watchedStore(inner, (n, phase) => {
            if (n === 5 && phase === 'end') first.abort(new Error('deadline near'));
          }),
          first.signal,
        ),
      );
      expect(e1).toBeInstanceOf(DeadlineError);
      expect(await inner.head(MANIFEST_KEY)).toBeUndefined();
      const afterFirst = await stored();
      expect(afterFirst).toBeGreaterThan(0);
      await moreWrites();

      // 2. Stopped in the middle of a part: the deadline strikes while the 3rd upload streams.
      const second = new AbortController();
      const e2 = await failure(
        call(
          watchedStore(inner, (n, phase) => {
            if (n === 3 && phase === 'start') setImmediate(() => second.abort(new Error('deadline near')));
          }),
          second.signal,
        ),
      );
      expect(e2).toBeInstanceOf(DeadlineError);
      expect(await inner.head(MANIFEST_KEY)).toBeUndefined();
      await moreWrites();

      // 3. The store goes away after two more parts: uploads fail, nothing is aborted.
      const e3 = await failure(
        call(
          watchedStore(inner, (n, phase, body) => {
            if (n > 2 && phase === 'start') {
              body.resume();
              throw new Error('503 Service Unavailable (simulated outage)');
            }
          }),
        ),
      );
      expect(e3).toBeInstanceOf(Error);
      expect(String(e3)).toMatch(/Service Unavailable/);
      expect(await inner.head(MANIFEST_KEY)).toBeUndefined();
      expect(await stored()).toBeGreaterThanOrEqual(afterFirst);
      await moreWrites();

      // 4. The store is back: this call finishes from what is stored.
      const done = await call(inner);
      expect(done.resumed?.partsKept).toBeGreaterThan(0);
      expect(done.resumed?.sessions).toBeGreaterThanOrEqual(2);
      expect(done.manifest.snapshot.sessions).toBe(done.resumed?.sessions);
      expect(done.manifest.gtid.replayUntil).toBeDefined();
      expect(done.manifest.gtid.replayUntil).not.toBe(done.manifest.gtid.position);
      // Complete: the records that let it resume are gone, the manifest lists every part once.
      expect(await inner.list(RESUME_PREFIX)).toEqual([]);
      await loadVerifiedManifest(inner);

      await moreWrites();
      writing = false;
      await load;

      const restored = await restoreDump({
        target: who(1),
        store: inner,
        replace: true,
        replaySource: {
          host: db1.host,
          port: db1.port,
          ...cluster.credentials.replication,
          connectRetrySeconds: 1,
        },
      });
      expect(restored.replay).toMatchObject({
        from: done.manifest.gtid.position,
        until: done.manifest.gtid.replayUntil,
        done: true,
      });
      const [mode] = await db2.query<{ m: string }[]>('SELECT @@global.slave_exec_mode AS m');
      expect(mode?.m).toBe('STRICT');
      await cluster.startReplication(db2, db1);
      await cluster.waitForReplication(db2);
      expect(await checksums(db2, [DB])).toEqual(await checksums(db1, [DB]));
      const [st] =
        await db2.query<{ Slave_SQL_Running: string; Slave_IO_Running: string }[]>('SHOW SLAVE STATUS');
      expect([st?.Slave_IO_Running, st?.Slave_SQL_Running]).toEqual(['Yes', 'Yes']);
    } finally {
      writing = false;
      await load.catch(() => undefined);
      await writer.end();
      await detach(db2).catch(() => undefined);
    }
  });

  it("keeps a stopped call's parts when it read the table without a primary key first", async () => {
    const inner = openObjectStore(`s3://${s3.bucket}/heap-first`, s3.storeOptions);
    const ctl = new AbortController();
    // Stops at once: the first part stored is all there is, and the table without a key is not done.
    const e = await dumpDatabase({
      source: who(0),
      store: watchedStore(inner, (n, phase) => {
        if (n === 1 && phase === 'end') ctl.abort(new Error('deadline near'));
      }),
      workers: 1,
      chunkRows: 2000,
      schemas: [DB],
      resume: true,
      signal: ctl.signal,
    }).then(
      () => null,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(DeadlineError);
    const parts = await inner.list(`${RESUME_PREFIX}parts/`);
    expect(parts.map((p) => decodeURIComponent(p.key))).toEqual([expect.stringContaining('/heap.')]);
    await cluster.servers[0]!.query(`INSERT INTO ${DB}.w (n, t) VALUES (1, 'moves the position')`);
    const done = await dumpDatabase({
      source: who(0),
      store: inner,
      chunkRows: 2000,
      schemas: [DB],
      resume: true,
    });
    // The heap part is kept (it was read first), so the dump stands at two positions.
    expect(done.resumed?.partsKept).toBe(1);
    expect(done.manifest.gtid.replayUntil).toBeDefined();
  });

  it('resumes the salvage backup of a server that is no longer written', async () => {
    const [db1, db2] = cluster.servers as [(typeof cluster.servers)[0], (typeof cluster.servers)[0]];
    await db1.query('SET GLOBAL read_only = 1');
    const [old, primary] = await Promise.all([
      connectAdmin(config, db1.address),
      connectAdmin(config, db2.address),
    ]);
    try {
      const inner = openObjectStore(`s3://${s3.bucket}/salvage`, s3.storeOptions);
      const ctl = new AbortController();
      const stopped = await salvage({
        old,
        newPrimary: primary,
        store: watchedStore(inner, (n, phase) => {
          if (n === 4 && phase === 'end') ctl.abort(new Error('deadline near'));
        }),
        watchdog: cluster.credentials.watchdog,
        signal: ctl.signal,
      }).then(
        () => null,
        (x: unknown) => x,
      );
      expect(stopped).toBeInstanceOf(DeadlineError);
      const kept = (await inner.list(`backup/${RESUME_PREFIX}parts/`)).length;
      expect(kept).toBeGreaterThan(0);

      const record = await salvage({
        old,
        newPrimary: primary,
        store: inner,
        watchdog: cluster.credentials.watchdog,
      });
      expect(record.backup).not.toBeNull();
      const backup = openObjectStore(`s3://${s3.bucket}/salvage/backup`, s3.storeOptions);
      const { manifest } = await loadVerifiedManifest(backup);
      // Nobody wrote in between: the parts of both calls stand at one position, nothing to replay.
      expect(manifest.snapshot.sessions).toBe(2);
      expect(manifest.gtid.replayUntil).toBeUndefined();
      expect(manifest.gtid.position).toBe(record.backup?.gtid);
      await restoreDump({ target: who(1), store: backup, replace: true });
      expect(await checksums(db2, [DB])).toEqual(await checksums(db1, [DB]));
    } finally {
      await db1.query('SET GLOBAL read_only = 0');
      await Promise.all([old.close(), primary.close()]);
    }
  });
});
