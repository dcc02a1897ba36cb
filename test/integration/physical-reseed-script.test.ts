/**
 * The physical reseed script (infra/ssm/reseed/reseed.sh) for real: mariadb-backup streams the
 * source into a local S3 endpoint (s3rver) or a folder, and the target is stopped, replaced, started
 * read-only and replicates from the GTID position the backup itself recorded.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Flavor } from '../../functions/cluster/flavor.js';
import { parseScriptResult } from '../../functions/operations/physical/commands.js';
import { LocalHostCommands } from '../../functions/operations/physical/local-commands.js';
import type { CommandDocument } from '../../functions/routers/ssm-document.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import { openObjectStore } from '../../functions/storage/open-store.js';
import { runDocumentAsAgent } from '../fixtures/routers/agent.js';
import { physicalHosts } from '../harness/physical-hosts.js';
import { checksums, detach } from '../harness/s3-dump-fixtures.js';
import { type LocalS3, startLocalS3 } from '../harness/s3rver.js';

const reseedDocument = (): CommandDocument =>
  JSON.parse(
    readFileSync(fileURLToPath(new URL('../../infra/ssm/physical-reseed.json', import.meta.url)), 'utf8'),
  );

const DB = 'app_physical';

describe('physical reseed script on real MariaDB', () => {
  let cluster: Cluster;
  let s3: LocalS3;
  let work: string;

  beforeAll(async () => {
    [cluster, s3] = await Promise.all([
      startCluster({ servers: 2, groups: 0, name: 'physical-script' }),
      startLocalS3(),
    ]);
    work = await mkdtemp(join(tmpdir(), 'physical-script-'));
    const db1 = cluster.servers[0]!;
    await db1.query(`CREATE DATABASE ${DB}`);
    await db1.query(
      `CREATE TABLE ${DB}.t (id INT AUTO_INCREMENT PRIMARY KEY, k INT NOT NULL, pad VARCHAR(200), KEY (k)) ENGINE=InnoDB`,
    );
    await db1.query(
      `INSERT INTO ${DB}.t (k, pad) SELECT seq % 101, REPEAT('p', 150) FROM ${DB}.seq_1_to_20000`,
    );
    await db1.query(`CREATE TABLE ${DB}.a (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=Aria`);
    await db1.query(`INSERT INTO ${DB}.a VALUES (1, 'aria')`);
    await cluster.waitForReplication(cluster.servers[1]!);
  }, 180_000);
  afterAll(async () => {
    await Promise.allSettled([
      cluster?.stop(),
      s3?.stop(),
      work ? rm(work, { recursive: true, force: true }) : 0,
    ]);
  });

  it("refuses a store other than the host's own and a service hook without a local caller, touching nothing", async () => {
    const db2 = cluster.servers[1]!;
    const agentEnv = {
      RESEED_STORE: join(work, 'allowed-store'),
      RESEED_DATADIR: db2.dataDir,
      RESEED_WORK_DIR: join(work, 'refusals'),
      RESEED_NO_DEFAULTS: '1',
    };
    const elsewhere = await runDocumentAsAgent(
      { Action: 'backup', Key: 'x/backup.xb.gz', Store: 's3://attacker-bucket/loot' },
      agentEnv,
      {},
      reseedDocument(),
    );
    expect(elsewhere.exitCode).toBe(2);
    expect(parseScriptResult(elsewhere.stdout)?.message).toMatch(/not this host's reseed store/);
    // 'hook' passes no SSM check (allowedValues) and, forced through, finds no descriptors to talk to.
    const forced = await runDocumentAsAgent(
      { Action: 'restore', Key: 'x/backup.xb.gz', Store: agentEnv.RESEED_STORE, ServiceControl: 'hook' },
      agentEnv,
      { validate: false },
      reseedDocument(),
    );
    expect(forced.exitCode).toBe(2);
    expect(parseScriptResult(forced.stdout)?.message).toMatch(/needs fds 3 and 4/);
    expect(db2.isRunning()).toBe(true);
  });

  for (const storeKind of ['s3', 'folder'] as const) {
    // The S3 case compresses with zstd (the default where it is installed), the folder case with gzip.
    const compression = storeKind === 's3' ? 'zstd' : 'gzip';
    it(`rebuilds a diverged server through the ${storeKind} store (${compression}) and it replicates from the backup's own GTID record`, async () => {
      const [db1, db2] = cluster.servers as [Cluster['servers'][0], Cluster['servers'][0]];
      // The target diverges: replication stopped, a table and rows the source never had.
      await detach(db2);
      await db2.query(`CREATE DATABASE IF NOT EXISTS only_on_target`);
      await db2.query(`CREATE TABLE IF NOT EXISTS only_on_target.x (id INT PRIMARY KEY)`);
      await db2.query(`DELETE FROM ${DB}.t WHERE id <= 10`);
      const store = storeKind === 's3' ? `s3://${s3.bucket}/physical` : join(work, 'folder-store');
      const hosts = physicalHosts(cluster.servers, {
        store,
        workDir: join(work, `hosts-${storeKind}`),
        ...(storeKind === 's3' ? { s3 } : {}),
        settings: storeKind === 's3' ? {} : { RESEED_COMPRESSION: 'gzip' },
      });
      const key = `reseed-${storeKind}/backup.xb.gz`;
      if (storeKind === 's3') {
        // The backup through the SSM document itself, run the way the agent runs it (sh, SSM_ variables),
        // with the host's settings in its environment.
        const run = await runDocumentAsAgent(
          { Action: 'backup', Key: key, Store: store },
          {
            RESEED_STORE: store,
            RESEED_S3_ENDPOINT: s3.endpoint,
            RESEED_DATADIR: db1.dataDir,
            RESEED_WORK_DIR: join(work, 'agent'),
            RESEED_SOCKET: db1.socketPath,
            RESEED_NO_DEFAULTS: '1',
            AWS_ACCESS_KEY_ID: 'S3RVER',
            AWS_SECRET_ACCESS_KEY: 'S3RVER',
          },
          {},
          reseedDocument(),
        );
        expect(run.stderr.slice(-2000)).not.toMatch(/failed|error/i);
        expect(run.exitCode).toBe(0);
        expect(parseScriptResult(run.stdout)?.rawBytes).toBeGreaterThan(1_000_000);
        expect(parseScriptResult(run.stdout)?.message).toMatch(/\(zstd\)$/);
      } else {
        const backup = await hosts.wait(await hosts.start(db1.address, { action: 'backup', key, store }));
        expect(backup.error ?? '').toBe('');
        expect(backup.state).toBe('succeeded');
        expect(backup.result!.rawBytes).toBeGreaterThan(1_000_000);
        expect(backup.result!.message).toMatch(/\(gzip\)$/);
      }
      const objects = await openObjectStore(store, s3.storeOptions).list(`reseed-${storeKind}/`);
      expect(objects.map((o) => o.key)).toEqual(expect.arrayContaining([key, `${key}.progress.json`]));
      // Written after the backup: replication must bring it over from the backup's position.
      await db1.query(`INSERT INTO ${DB}.t (k, pad) VALUES (7, 'after the ${storeKind} backup')`);

      const restore = await hosts.wait(await hosts.start(db2.address, { action: 'restore', key, store }));
      expect(restore.error ?? '').toBe('');
      expect(restore.state).toBe('succeeded');
      expect(restore.result!.gtid).toMatch(/^0-1-\d+$/);
      expect(db2.isRunning()).toBe(true);
      const [ro] = await db2.query<{ ro: number }[]>('SELECT @@read_only AS ro');
      expect(Number(ro?.ro)).toBe(1);
      const schemas = (
        await db2.query<{ s: string }[]>('SELECT SCHEMA_NAME AS s FROM information_schema.SCHEMATA')
      ).map((r) => r.s);
      expect(schemas).not.toContain('only_on_target');

      const flavor = Flavor.detect('10.11.0-MariaDB');
      for (const s of flavor.setGtidPositionAfterRestore(restore.result!.gtid))
        await db2.query(s.sql, s.values as unknown[]);
      await cluster.startReplication(db2, db1);
      await cluster.waitForReplication(db2, 120_000);
      expect(await checksums(db2, [DB])).toEqual(await checksums(db1, [DB]));
      const [n] = await db2.query<{ n: number }[]>(
        `SELECT COUNT(*) AS n FROM ${DB}.t WHERE pad = 'after the ${storeKind} backup'`,
      );
      expect(Number(n?.n)).toBe(1);
      // Nothing left behind in the work folders: no local copy of the backup.
      const left = await readdir(join(work, `hosts-${storeKind}`, db2.name));
      expect(left.filter((f) => !f.endsWith('.log'))).toEqual([]);
    }, 600_000);
  }

  it('refuses to empty a datadir that a server still holds after the stop (a hook or unit that did not stop it)', async () => {
    const db2 = cluster.servers[1]!;
    const store = join(work, 'folder-store');
    const [before] = await db2.query<{ n: number }[]>(`SELECT COUNT(*) AS n FROM ${DB}.t`);
    const lying = new LocalHostCommands({
      hosts: new Map([
        [
          db2.address,
          {
            settings: {
              RESEED_STORE: store,
              RESEED_DATADIR: db2.dataDir,
              RESEED_WORK_DIR: join(work, 'lying'),
              RESEED_SOCKET: db2.socketPath,
              RESEED_NO_DEFAULTS: '1',
            },
            service: { stop: async () => {}, startReadOnly: async () => {} },
          },
        ],
      ]),
    });
    const restore = await lying.wait(
      await lying.start(db2.address, { action: 'restore', key: 'reseed-folder/backup.xb.gz', store }),
    );
    expect(restore.state).toBe('failed');
    expect(restore.result?.message).toMatch(/still holds/);
    expect(db2.isRunning()).toBe(true);
    const [after] = await db2.query<{ n: number }[]>(`SELECT COUNT(*) AS n FROM ${DB}.t`);
    expect(Number(after?.n)).toBe(Number(before?.n));
  }, 300_000);
});
