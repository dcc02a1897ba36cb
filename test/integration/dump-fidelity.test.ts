/**
 * Dumps that lose nothing, against real MariaDB servers: the cases of test/fixtures/dump/*.sql (names
 * outside ASCII, system-versioned history, exact FLOAT, ambiguous ENUM/SET, sequence options, stored
 * programs of a latin1 client, DEFAULT NEXTVAL order, tables differing in case, rows near the
 * target's max_allowed_packet) each come back exactly; a target that already has a schema is refused;
 * a corrupt object stops the restore before it commits and a rerun from a good copy resumes.
 */
import { execFile, execFileSync } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpDatabase } from '../../functions/dump/dump.js';
import type { Manifest } from '../../functions/dump/manifest.js';
import { restoreDump } from '../../functions/dump/restore.js';
import { DumpIntegrityError, SafetyRefusalError } from '../../functions/errors.js';
import {
  type Cluster,
  DEFAULT_WATCHDOG_SCHEMAS,
  type ServerHandle,
  startCluster,
} from '../../functions/sandbox/harness/index.js';
import { openObjectStore } from '../../functions/storage/open-store.js';
import { checksums, detach, loadDumpFixture, showCreates } from '../harness/s3-dump-fixtures.js';

const run = promisify(execFile);
const SCHEMAS = ['app_sakila', 'données_ü', 'fidelity', 'zzz_seqs'];

const loadFixture = (server: ServerHandle, file: string, charset = 'utf8mb4') =>
  loadDumpFixture(server, file, { charset });

type Rows = Record<string, unknown>[];

describe('dumps that lose nothing', () => {
  let cluster: Cluster;
  let work: string;
  let full: string;
  let manifest: Manifest;
  let db1: ServerHandle;
  let db2: ServerHandle;

  const who = (s: ServerHandle) => ({ host: s.host, port: s.port, ...cluster.credentials.watchdog });
  /** Same query on both servers. */
  const both = async (sql: string): Promise<[Rows, Rows]> => [
    await db1.query<Rows>(sql),
    await db2.query<Rows>(sql),
  ];

  beforeAll(async () => {
    cluster = await startCluster({
      servers: 2,
      groups: 0,
      name: 'dump-fidelity',
      watchdogSchemas: [...DEFAULT_WATCHDOG_SCHEMAS, ...SCHEMAS, 'blobs%'],
    });
    [db1, db2] = cluster.servers as [ServerHandle, ServerHandle];
    work = await mkdtemp(join(tmpdir(), 'dump-fidelity-'));
    await cluster.waitForReplication(db2);
    await detach(db2);
    await loadFixture(db1, 'sakila.sql');
    await loadFixture(db1, 'fidelity.sql');
    await loadFixture(db1, 'fidelity-latin1.sql', 'latin1');
    full = join(work, 'full');
    manifest = (await dumpDatabase({ source: who(db1), store: openObjectStore(full), schemas: SCHEMAS }))
      .manifest;
    await restoreDump({ target: who(db2), store: openObjectStore(full), replace: true });
  });
  afterAll(async () => {
    await Promise.allSettled([cluster?.stop(), work ? rm(work, { recursive: true, force: true }) : 0]);
  });

  it('restores a Sakila-style schema: keys, FULLTEXT, spatial, partitions, views over views, routines', async () => {
    expect(await checksums(db2, ['app_sakila'])).toEqual(await checksums(db1, ['app_sakila']));
    expect(await showCreates(db2, 'app_sakila')).toEqual(await showCreates(db1, 'app_sakila'));
    const [a, b] = await both(
      "SELECT (SELECT GROUP_CONCAT(title ORDER BY fid) FROM app_sakila.a_film_titles) AS t, (SELECT COUNT(*) FROM app_sakila.film WHERE MATCH (title, description) AGAINST ('guillemets')) AS ft, (SELECT COUNT(*) FROM app_sakila.payment PARTITION (p2006)) AS p, (SELECT ST_AsText(location) FROM app_sakila.address WHERE address_id = 2) AS loc",
    );
    expect(a[0]).toMatchObject({ loc: 'POINT(139.76 35.68)' });
    expect(b).toEqual(a);
    for (const s of [db1, db2]) {
      const c = await s.connect();
      try {
        await c.query('CALL app_sakila.film_in_stock(1, @n)');
        const [rows] = await c.query('SELECT @n AS n');
        expect(Number((rows as Rows)[0]?.n)).toBe(2);
      } finally {
        await c.end();
      }
    }
  });

  it('restores a schema whose name is not ASCII, with its default character set', async () => {
    expect(manifest.schemas).toEqual(SCHEMAS);
    const [a, b] = await both(
      "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'données_ü'",
    );
    expect(a).toHaveLength(1);
    expect(b).toEqual(a);
  });

  it('restores a table whose name is not ASCII, row for row', async () => {
    expect(await checksums(db2, ['données_ü'])).toEqual(await checksums(db1, ['données_ü']));
    const [a, b] = await both('SELECT id, `colonne_é`, v FROM `données_ü`.`tâble_中文` ORDER BY id');
    expect(a[0]).toEqual({ id: 1, colonne_é: 'ünïcödé 😀', v: 'café' });
    expect(b).toEqual(a);
    expect(await showCreates(db2, 'données_ü')).toEqual(await showCreates(db1, 'données_ü'));
  });

  it('carries system-versioned tables with their whole history', async () => {
    const versioned = manifest.objects.filter((o) => o.kind === 'data' && o.versioned);
    expect(versioned.map((o) => o.table).sort()).toEqual(['versioned', 'versioned_explicit']);
    const [a, b] = await both(
      'SELECT id, v, row_start, row_end FROM fidelity.versioned FOR SYSTEM_TIME ALL ORDER BY row_start, id',
    );
    expect(a).toHaveLength(5);
    expect(b).toEqual(a);
    const [c, d] = await both(
      'SELECT id, amount, valid_from, valid_to FROM fidelity.versioned_explicit FOR SYSTEM_TIME ALL ORDER BY valid_from, id',
    );
    expect(c).toHaveLength(4);
    expect(d).toEqual(c);
    // Queries as of a past moment answer the same on both servers.
    const at = String((a[1] as { row_start: string }).row_start);
    const [e, f] = await both(
      `SELECT id, v FROM fidelity.versioned FOR SYSTEM_TIME AS OF TIMESTAMP '${at}' ORDER BY id`,
    );
    expect(f).toEqual(e);
    expect((await showCreates(db2, 'fidelity'))['table versioned_explicit']).toContain(
      'WITH SYSTEM VERSIONING',
    );
  });

  it('restores a 10 MiB BLOB into a target with the default 16 MiB max_allowed_packet', async () => {
    const [a, b] = await both('SELECT id, LENGTH(b) AS n, MD5(b) AS h FROM fidelity.big_blob ORDER BY id');
    expect(Number(a[0]?.n)).toBe(10 * 1024 * 1024);
    expect(b).toEqual(a);
    const o = manifest.objects.find((x) => x.table === 'big_blob')!;
    // written as escaped bytes (about its size), not hex (twice it)
    expect(o.bytes).toBeLessThan(11 * 1024 * 1024);
  });

  it('keeps FLOAT values exact', async () => {
    const [a, b] = await both(
      'SELECT id, CAST(f AS DOUBLE) AS f, CAST(fu AS DOUBLE) AS fu, CAST(fmd AS DOUBLE) AS fmd, d FROM fidelity.floats ORDER BY id',
    );
    expect(Number((b[0] as { f: unknown }).f)).toBe(16777216);
    expect(b).toEqual(a);
  });

  it('keeps ENUM and SET values whose text is ambiguous (error value, empty member)', async () => {
    const [a, b] = await both(
      'SELECT id, e + 0 AS e, e_plain + 0 AS ep, s + 0 AS s, s_plain + 0 AS sp FROM fidelity.enums ORDER BY id',
    );
    expect(a.map((r) => [r.e, r.s])).toEqual([
      [0, 0],
      [1, 1],
      [3, 3],
    ]);
    expect(b).toEqual(a);
  });

  it('recreates sequences with their options and position', async () => {
    for (const s of ['fidelity.seq_opts', 'fidelity.seq_nocache', 'fidelity.zz_ids', 'zzz_seqs.shared_ids']) {
      const [a, b] = await both(`SHOW CREATE SEQUENCE ${s}`);
      expect(b).toEqual(a);
      const [x, y] = await both(`SELECT * FROM ${s}`);
      expect(y).toEqual(x);
    }
    // The next numbers are the ones the source gives after a restart (its cache is not part of its data).
    const [c, d] = await both('SELECT NEXTVAL(fidelity.seq_nocache) AS a, NEXTVAL(fidelity.seq_opts) AS b');
    expect(d).toEqual(c);
  });

  it('keeps the character set and collation each stored program and view was created with', async () => {
    const meta = [
      "SELECT ROUTINE_NAME AS n, CHARACTER_SET_CLIENT AS cs, COLLATION_CONNECTION AS coll FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'fidelity' ORDER BY 1",
      "SELECT TABLE_NAME AS n, CHARACTER_SET_CLIENT AS cs, COLLATION_CONNECTION AS coll FROM information_schema.VIEWS WHERE TABLE_SCHEMA = 'fidelity' ORDER BY 1",
      "SELECT TRIGGER_NAME AS n, CHARACTER_SET_CLIENT AS cs, COLLATION_CONNECTION AS coll FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = 'fidelity' ORDER BY 1",
      "SELECT EVENT_NAME AS n, CHARACTER_SET_CLIENT AS cs, COLLATION_CONNECTION AS coll FROM information_schema.EVENTS WHERE EVENT_SCHEMA = 'fidelity' ORDER BY 1",
    ];
    for (const sql of meta) {
      const [a, b] = await both(sql);
      expect(a.length).toBeGreaterThan(0);
      expect(b).toEqual(a);
    }
    const [r] = await db2.query<Rows>(
      "SELECT CHARACTER_SET_CLIENT AS cs FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'fidelity' AND ROUTINE_NAME = 'latin1_word'",
    );
    expect(r?.cs).toBe('latin1');
    const [a, b] = await both(
      'SELECT fidelity.latin1_word() AS w, fidelity.latin1_charset() AS c, fidelity.utf8_word() AS u',
    );
    expect(a[0]).toEqual({ w: 'café', c: 'latin1', u: 'naïve 中文' });
    expect(b).toEqual(a);
    const [v1, v2] = await both('SELECT * FROM fidelity.v_latin1');
    expect(v1[0]).toMatchObject({ w: 'café', cs: 'latin1' });
    expect(v2).toEqual(v1);
    const [v3, v4] = await both('SELECT * FROM fidelity.v_utf8');
    expect(v3[0]).toMatchObject({ w: 'naïve 中文', cs: 'utf8mb4' });
    expect(v4).toEqual(v3);
    expect(await showCreates(db2, 'fidelity')).toEqual(await showCreates(db1, 'fidelity'));
    // The trigger and the procedure behave as on the source.
    for (const s of [db1, db2]) {
      const c = await s.connect();
      try {
        await c.query('SET SESSION sql_log_bin = 0');
        await c.query("INSERT INTO fidelity.latin1_log (note) VALUES ('menu')");
        await c.query('CALL fidelity.latin1_proc(@w)');
        const [rows] = await c.query(
          'SELECT @w AS w, (SELECT note FROM fidelity.latin1_log ORDER BY id DESC LIMIT 1) AS n',
        );
        expect((rows as Rows)[0]).toEqual({ w: 'crème', n: 'menu à la carte' });
        await c.query('DELETE FROM fidelity.latin1_log');
        await c.query('ALTER TABLE fidelity.latin1_log AUTO_INCREMENT = 1');
      } finally {
        await c.end();
      }
    }
  });

  it('creates sequences before the tables whose DEFAULT reads them, in any schema', async () => {
    const keys = manifest.objects.filter((o) => o.kind === 'schema').map((o) => o.key);
    expect(keys).toContain('01-tables/fidelity.sql.gz');
    const [a, b] = await both(
      'SELECT (SELECT GROUP_CONCAT(id ORDER BY id) FROM fidelity.a_uses_seq) AS own, (SELECT GROUP_CONCAT(id ORDER BY id) FROM fidelity.a_uses_other_schema) AS other',
    );
    expect(b).toEqual(a);
    for (const s of [db1, db2]) {
      const c = await s.connect();
      try {
        await c.query('SET SESSION sql_log_bin = 0');
        await c.query("INSERT INTO fidelity.a_uses_seq (note) VALUES ('three')");
        const [rows] = await c.query("SELECT id FROM fidelity.a_uses_seq WHERE note = 'three'");
        expect(String((rows as Rows)[0]?.id)).toBe('520');
        await c.query("DELETE FROM fidelity.a_uses_seq WHERE note = 'three'");
      } finally {
        await c.end();
      }
    }
  });

  it('resumes after a failure with tables whose names differ only in case', async () => {
    expect(await db2.query('SELECT * FROM fidelity.`Mixed` ORDER BY id')).toHaveLength(2);
    // A restore that fails after all data was loaded (its trigger object is corrupt) ...
    const dir = join(work, 'case');
    await cp(full, dir, { recursive: true });
    const key = '50-triggers/fidelity.sql.gz';
    const good = await readFile(join(dir, key));
    const bad = Buffer.from(good);
    bad[bad.length - 6] = (bad[bad.length - 6] ?? 0) ^ 0xff;
    await writeFile(join(dir, key), bad);
    const failed = await restoreDump({ target: who(db2), store: openObjectStore(dir), replace: true }).catch(
      (e: unknown) => e,
    );
    expect(failed).toBeInstanceOf(DumpIntegrityError);
    const done = await db2.query<{ k: string }[]>(
      "SELECT object_key AS k FROM ongoing_failover.restore_checkpoint WHERE object_key LIKE '10-data/fidelity/%ixed.%'",
    );
    expect(done.map((r) => r.k).sort()).toEqual([
      '10-data/fidelity/Mixed.00000.sql.gz',
      '10-data/fidelity/mixed.00000.sql.gz',
    ]);
    // ... resumes from a good copy: both tables are skipped, none is loaded twice.
    await writeFile(join(dir, key), good);
    const resumed = await restoreDump({ target: who(db2), store: openObjectStore(dir) });
    expect(resumed.resumed).toBe(true);
    expect(resumed.objectsSkipped).toBeGreaterThan(10);
    const [a, b] = await both(
      'SELECT (SELECT GROUP_CONCAT(v) FROM fidelity.`Mixed`) AS upper_t, (SELECT GROUP_CONCAT(v) FROM fidelity.`mixed`) AS lower_t',
    );
    expect(b).toEqual(a);
    expect(await checksums(db2, SCHEMAS)).toEqual(await checksums(db1, SCHEMAS));
    await db2.query('SET GLOBAL read_only = OFF');
  });

  it('stops at a corrupt data object before it commits, names it, leaves the target read-only, and resumes from a good copy', async () => {
    const dir = join(work, 'corrupt');
    await cp(full, dir, { recursive: true });
    const victim = manifest.objects.find((o) => o.kind === 'data' && o.table === 'floats')!;
    const good = await readFile(join(dir, victim.key));
    const bad = Buffer.from(good);
    // The gzip trailer's CRC: every statement of the object runs before the damage shows.
    bad[bad.length - 8] = (bad[bad.length - 8] ?? 0) ^ 0xff;
    await writeFile(join(dir, victim.key), bad);
    await db2.query('SET GLOBAL read_only = OFF');
    const failed = await restoreDump({ target: who(db2), store: openObjectStore(dir), replace: true }).catch(
      (e: unknown) => e,
    );
    expect(failed).toBeInstanceOf(DumpIntegrityError);
    expect(String((failed as Error).message)).toContain(victim.key);
    const [n] = await db2.query<Rows>('SELECT COUNT(*) AS n FROM fidelity.floats');
    expect(Number(n?.n)).toBe(0);
    const [ro] = await db2.query<Rows>('SELECT @@global.read_only AS ro');
    expect(Number(ro?.ro)).toBe(1);
    const marks = await db2.query<{ k: string }[]>(
      "SELECT object_key AS k FROM ongoing_failover.restore_checkpoint WHERE state = 'done'",
    );
    expect(marks.map((m) => m.k)).not.toContain(victim.key);
    await writeFile(join(dir, victim.key), good);
    const resumed = await restoreDump({ target: who(db2), store: openObjectStore(dir) });
    expect(resumed.resumed).toBe(true);
    expect(await checksums(db2, SCHEMAS)).toEqual(await checksums(db1, SCHEMAS));
    await db2.query('SET GLOBAL read_only = OFF');
  });

  it('refuses a target that has the schema but no tables unless replace, and replaces it whole', async () => {
    for (const s of SCHEMAS) await db2.query(`DROP DATABASE IF EXISTS \`${s}\``);
    await db2.query('CREATE DATABASE fidelity CHARACTER SET latin1');
    await db2.query('CREATE PROCEDURE fidelity.leftover() SELECT 1');
    const store = openObjectStore(full);
    await expect(restoreDump({ target: who(db2), store })).rejects.toBeInstanceOf(SafetyRefusalError);
    await expect(restoreDump({ target: who(db2), store })).rejects.toThrow(/fidelity.*replace/);
    await restoreDump({ target: who(db2), store, replace: true });
    const [a, b] = await both(
      "SELECT DEFAULT_CHARACTER_SET_NAME AS cs FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'fidelity'",
    );
    expect(b).toEqual(a);
    expect(await db2.query("SHOW PROCEDURE STATUS WHERE Db = 'fidelity' AND Name = 'leftover'")).toEqual([]);
  });

  it("copies the source's accounts, roles and grants, a changed password included", async () => {
    await loadFixture(db1, 'accounts.sql');
    // The target knows the account with the password it had before the source rotated it.
    await db2.query("CREATE USER 'fid_app'@'%' IDENTIFIED BY 'fid-pw-1'");
    await db2.query("CREATE USER 'only_on_target'@'%'");
    const dir = join(work, 'accounts');
    const m = (
      await dumpDatabase({
        source: who(db1),
        store: openObjectStore(dir),
        schemas: SCHEMAS,
        includeUsers: true,
      })
    ).manifest;
    expect(m.objects.map((o) => o.kind)).toContain('users');
    await restoreDump({ target: who(db2), store: openObjectStore(dir), replace: true });
    // Every account's row (authentication, limits, roles) equal; the target's own extra account gone.
    const [a, b] = await both(
      "SELECT User, Host, Priv FROM mysql.global_priv WHERE User NOT IN ('root', 'mariadb.sys', 'mysql') ORDER BY User, Host",
    );
    expect(a.map((r) => r.User)).toEqual(
      expect.arrayContaining(['fid_app', 'fid_locked', 'fid_reader', 'watchdog']),
    );
    expect(b).toEqual(a);
    const [rm1, rm2] = await both(
      "SELECT * FROM mysql.roles_mapping WHERE User <> 'root' ORDER BY User, Host, Role",
    );
    expect(rm2).toEqual(rm1);
    const [g1, g2] = await both("SHOW GRANTS FOR 'fid_app'@'%'");
    expect(g2).toEqual(g1);
    const c = await db2.connect({ user: 'fid_app', password: 'fid-pw-2' });
    try {
      const [r] = await c.query('SELECT CURRENT_ROLE() AS r, COUNT(*) AS n FROM fidelity.floats');
      expect((r as Rows)[0]).toMatchObject({ r: 'fid_reader' });
      expect(Number((r as Rows)[0]?.n)).toBe(5);
    } finally {
      await c.end();
    }
    await expect(db2.connect({ user: 'fid_app', password: 'fid-pw-1' })).rejects.toThrow(/Access denied/);
    // A watchdog account set up without the account-table grant is told what it lacks.
    await db2.query("REVOKE INSERT, DELETE ON mysql.global_priv FROM 'watchdog'@'%'");
    try {
      await expect(
        restoreDump({ target: who(db2), store: openObjectStore(dir), replace: true }),
      ).rejects.toThrow(/20-users\.sql\.gz: .*denied.*needs INSERT, DELETE on each mysql account table/);
    } finally {
      await db2.query("GRANT INSERT, DELETE ON mysql.global_priv TO 'watchdog'@'%'");
    }
  });

  it('never takes from the restoring account its own grants: a copy cut short can be run again', async () => {
    // The accounts fixture: loaded by the test above, or here when this test runs alone.
    const loaded = await db1.query<Rows>("SELECT 1 FROM mysql.global_priv WHERE User = 'fid_app'");
    if (loaded.length === 0) await loadFixture(db1, 'accounts.sql');
    const dir = join(work, 'accounts-cut');
    await dumpDatabase({
      source: who(db1),
      store: openObjectStore(dir),
      schemas: ['zzz_seqs'],
      includeUsers: true,
    });
    const found = await run('find', [dir, '-name', '20-users.sql.gz']);
    const text = gunzipSync(await readFile(found.stdout.trim())).toString('latin1');
    // A restart right after each DELETE of an account table: the server reads the grants from the
    // tables as they were left (MariaDB's account tables are not transactional).
    const deletes = text.split('\n').filter((line) => line.startsWith('DELETE FROM'));
    expect(deletes.length).toBeGreaterThanOrEqual(3);
    for (const line of deletes) {
      const cut = text.slice(0, text.indexOf(line) + line.length + 1);
      const root = [
        '--binary-mode',
        `--socket=${db2.socketPath}`,
        '-uroot',
        '--init-command=SET sql_log_bin=0',
      ];
      execFileSync('mariadb', root, { input: Buffer.from(cut, 'latin1') });
      execFileSync('mariadb', [...root, '-e', 'FLUSH PRIVILEGES']);
      await restoreDump({ target: who(db2), store: openObjectStore(dir), replace: true });
    }
    const [a, b] = await both(
      "SELECT User, Host, Priv FROM mysql.global_priv WHERE User NOT IN ('root', 'mariadb.sys', 'mysql') ORDER BY User, Host",
    );
    expect(a.map((r) => r.User)).toEqual(expect.arrayContaining(['fid_app', 'watchdog']));
    expect(b).toEqual(a);
  });

  it('restores by hand with zcat | mariadb, history and latin1 programs included', async () => {
    for (const s of SCHEMAS) await db2.query(`DROP DATABASE IF EXISTS \`${s}\``);
    await run('bash', [
      '-c',
      `set -o pipefail; cd "$1" && for f in $(find . -name '*.sql.gz' | sort); do zcat "$f"; done | mariadb --comments --socket="$2" -uroot --init-command='SET sql_log_bin=0'`,
      'restore',
      full,
      db2.socketPath,
    ]);
    expect(await checksums(db2, SCHEMAS)).toEqual(await checksums(db1, SCHEMAS));
    for (const s of SCHEMAS) expect(await showCreates(db2, s)).toEqual(await showCreates(db1, s));
    const [a, b] = await both(
      'SELECT id, v, row_start, row_end FROM fidelity.versioned FOR SYSTEM_TIME ALL ORDER BY row_start, id',
    );
    expect(b).toEqual(a);
    const [c, d] = await both('SELECT fidelity.latin1_word() AS w, fidelity.latin1_charset() AS c');
    expect(d).toEqual(c);
  });

  describe("rows near the target's max_allowed_packet", () => {
    let fit: string;
    let huge: string;
    beforeAll(async () => {
      await loadFixture(db1, 'blobs.sql');
      fit = join(work, 'blobs-fit');
      huge = join(work, 'blobs-huge');
      await dumpDatabase({ source: who(db1), store: openObjectStore(fit), schemas: ['blobs_fit'] });
      await dumpDatabase({ source: who(db1), store: openObjectStore(huge), schemas: ['blobs_huge'] });
      await db2.query(`SET GLOBAL max_allowed_packet = ${1024 * 1024}`);
    });
    afterAll(async () => {
      await db2.query('SET GLOBAL max_allowed_packet = DEFAULT');
    });

    it('cuts statements into INSERTs that fit the packet, byte for byte', async () => {
      const r = await restoreDump({ target: who(db2), store: openObjectStore(fit), replace: true });
      expect(r.manifest.totals.rows).toBe(6);
      expect(await checksums(db2, ['blobs_fit'])).toEqual(await checksums(db1, ['blobs_fit']));
    });

    it('refuses a value that cannot fit, naming the column and the setting to raise', async () => {
      const error = await restoreDump({
        target: who(db2),
        store: openObjectStore(huge),
        replace: true,
      }).then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(error).toBeInstanceOf(Error);
      expect(error?.message).toMatch(
        /`blobs_huge`\.`one_value`.*column `payload`.*raise max_allowed_packet on the target to at least \d+/,
      );
      await db2.query('SET GLOBAL read_only = OFF');
    });
  });
});
