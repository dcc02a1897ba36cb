/**
 * The router script's ProxySQL driver, taken from the SSM document, against a stand-in for ProxySQL's
 * admin interface: ProxySQL cannot be installed on the test machines, so `mariadb` on PATH is a test
 * double (test/fixtures/routers/fake-proxysql-admin.py) that runs the admin SQL on SQLite, as ProxySQL's
 * admin does, and logs every statement. The SQL is checked statement by statement; the tables show
 * its effect.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runDocumentAsAgent } from '../fixtures/routers/agent.js';

const FAKE = fileURLToPath(new URL('../fixtures/routers/fake-proxysql-admin.py', import.meta.url));

let dir: string;
let env: Record<string, string>;
let adminDefaults: string;
let log: string;

function admin(sql: string): string[] {
  const out = execFileSync(FAKE, [`--no-defaults`], {
    input: sql,
    env: { ...process.env, ...env, FAKE_PROXYSQL_LOG: join(dir, 'setup.log') },
    encoding: 'utf8',
  });
  return out.split('\n').filter(Boolean);
}

function statements(): string[] {
  return readFileSync(log, 'utf8').split('\n').filter(Boolean);
}

const run = (parameters: Record<string, string>, extraEnv: Record<string, string> = {}) =>
  runDocumentAsAgent(
    { RouterKind: 'proxysql', ConfigPath: adminDefaults, Section: '10:20', ...parameters },
    { ...env, ...extraEnv },
    { allowDirs: [dir] },
  );

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rs-proxysql-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  symlinkSync(FAKE, join(bin, 'mariadb'));
  adminDefaults = join(dir, 'proxysql-admin.cnf');
  writeFileSync(adminDefaults, '[client]\nhost=127.0.0.1\nport=6032\nuser=radmin\npassword=radmin\n', {
    mode: 0o600,
  });
  log = join(dir, 'admin.log');
  env = {
    PATH: `${bin}:${process.env.PATH}`,
    FAKE_PROXYSQL_DB: join(dir, 'proxysql.db'),
    FAKE_PROXYSQL_LOG: log,
    RS_SETTINGS_FILE: '',
    RS_BACKUP_DIR: join(dir, 'backups'),
  };
  // Both servers in the writer hostgroup 10 (the seed's both-writable layout), the replica also in
  // reader hostgroup 20, loaded to runtime.
  admin(`
    INSERT INTO mysql_servers (hostgroup_id, hostname, port, weight, comment) VALUES (10, '10.0.0.11', 3306, 1000, 'db1 primary');
    INSERT INTO mysql_servers (hostgroup_id, hostname, port, weight, comment) VALUES (10, '10.0.0.12', 3306, 1, 'db2; "quoted" ''text''');
    INSERT INTO mysql_servers (hostgroup_id, hostname, port) VALUES (20, '10.0.0.12', 3306);
    LOAD MYSQL SERVERS TO RUNTIME;
  `);
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const ROWS =
  'SELECT hostgroup_id, hostname, port, status FROM runtime_mysql_servers ORDER BY hostgroup_id, hostname, port;';

describe('router script on ProxySQL', () => {
  it('sends exactly the expected admin SQL, statement by statement', async () => {
    const result = await run({ Destinations: '10.0.0.12:3306,10.0.0.13:3306', Fenced: '10.0.0.11:3306' });
    expect(result.exitCode).toBe(0);
    const sent = statements();
    expect(sent[0]).toBe(
      'SELECT hostgroup_id, hostname, port, status FROM mysql_servers ORDER BY hostgroup_id, hostname, port',
    );
    expect(sent[1]).toBe(ROWS.slice(0, -1));
    expect(sent[2]).toBe('SELECT COUNT(*) FROM mysql_replication_hostgroups WHERE writer_hostgroup=10');
    expect(sent[3]).toMatch(
      /^SELECT 'INSERT INTO mysql_servers \(hostgroup_id, hostname, port, gtid_port, status,/,
    );
    expect(sent.slice(4)).toEqual([
      "DELETE FROM mysql_servers WHERE hostgroup_id=10 AND NOT (hostname='10.0.0.12' AND port=3306)",
      "INSERT OR IGNORE INTO mysql_servers (hostgroup_id, hostname, port) VALUES (10, '10.0.0.12', 3306)",
      "UPDATE mysql_servers SET status='ONLINE' WHERE hostgroup_id=10 AND hostname='10.0.0.12' AND port=3306",
      "UPDATE mysql_servers SET status='OFFLINE_HARD' WHERE hostname='10.0.0.11' AND port=3306",
      "INSERT OR IGNORE INTO mysql_servers (hostgroup_id, hostname, port) VALUES (20, '10.0.0.13', 3306)",
      'LOAD MYSQL SERVERS TO RUNTIME',
      'SAVE MYSQL SERVERS TO DISK',
      ROWS.slice(0, -1),
    ]);
    expect(result.result).toMatchObject({
      ok: true,
      kind: 'proxysql',
      changed: true,
      applied: 'admin-sql',
      validated: true,
      previous: ['10.0.0.11:3306', '10.0.0.12:3306'],
      verify: { status: 'skipped', through: '127.0.0.1:6033' },
    });
  });

  it('leaves the new primary as the only writer, at runtime and on disk', async () => {
    await run({ Destinations: '10.0.0.12:3306,10.0.0.13:3306', Fenced: '10.0.0.11:3306' });
    for (const table of ['runtime_mysql_servers', 'disk_mysql_servers']) {
      expect(
        admin(`SELECT hostgroup_id, hostname, port, status FROM ${table} ORDER BY 1, 2, 3;`),
        table,
      ).toEqual([
        '10\t10.0.0.12\t3306\tONLINE',
        '20\t10.0.0.12\t3306\tONLINE',
        '20\t10.0.0.13\t3306\tONLINE',
      ]);
    }
  });

  it('changes nothing the second time', async () => {
    const parameters = { Destinations: '10.0.0.12:3306', Fenced: '10.0.0.11:3306' };
    expect((await run(parameters)).exitCode).toBe(0);
    const before = statements().length;
    const again = await run(parameters);
    expect(again.exitCode).toBe(0);
    expect(again.result).toMatchObject({ changed: false, alreadyInPlace: true });
    // Only the reads: no write, no LOAD, no SAVE.
    expect(
      statements()
        .slice(before)
        .every((s) => s.startsWith('SELECT')),
    ).toBe(true);
  });

  it('restores mysql_servers from the backup, fenced server kept out, when the admin interface refuses the switch', async () => {
    const original = admin('SELECT * FROM mysql_servers ORDER BY 1, 2, 3;');
    // The rollback never gives the fenced server traffic again: the backup, with it OFFLINE_HARD.
    const fencedOut = original.map((row) =>
      row.replace(/^(10\t10\.0\.0\.11\t3306\t0\t)ONLINE/, '$1OFFLINE_HARD'),
    );
    expect(fencedOut).not.toEqual(original);
    const result = await run(
      { Destinations: '10.0.0.12:3306', Fenced: '10.0.0.11:3306' },
      { FAKE_PROXYSQL_FAIL: 'SAVE MYSQL SERVERS TO DISK' },
    );
    expect(result.exitCode).toBe(6);
    // The failure also refuses the SAVE of the restore, so the script says a human is needed; the
    // config and runtime tables are nevertheless back to the original, fenced server out (LOAD ran).
    expect(admin('SELECT * FROM mysql_servers ORDER BY 1, 2, 3;')).toEqual(fencedOut);
    expect(admin(`${ROWS}`)).toEqual([
      '10\t10.0.0.11\t3306\tOFFLINE_HARD',
      '10\t10.0.0.12\t3306\tONLINE',
      '20\t10.0.0.12\t3306\tONLINE',
    ]);
    // Every text value travels hex-encoded: the backup holds no quote or backslash of any value.
    const backup = readFileSync(result.result!.backup, 'utf8');
    const hex = Buffer.from(`db2; "quoted" 'text'`).toString('hex').toUpperCase();
    expect(backup).toContain(`CAST(X'${hex}' AS TEXT)`);
    expect(backup).not.toMatch(/["\\]/);
  });

  it('rolls back, fenced server kept out, when the admin interface refuses part of the switch', async () => {
    const original = admin('SELECT * FROM mysql_servers ORDER BY 1, 2, 3;');
    const result = await run(
      { Destinations: '10.0.0.12:3306', Fenced: '10.0.0.11:3306' },
      { FAKE_PROXYSQL_FAIL: 'INSERT OR IGNORE INTO mysql_servers' },
    );
    expect(result.exitCode).toBe(4);
    expect(result.result).toMatchObject({ ok: false, rolledBack: true });
    expect(admin('SELECT * FROM mysql_servers ORDER BY 1, 2, 3;')).toEqual(
      original.map((row) => row.replace(/^(10\t10\.0\.0\.11\t3306\t0\t)ONLINE/, '$1OFFLINE_HARD')),
    );
    // The restore: the whole table replayed from the backup, the fenced server kept out, loaded, saved.
    const sent = statements();
    const restore = sent.slice(sent.lastIndexOf('DELETE FROM mysql_servers'));
    expect(restore).toHaveLength(7);
    expect(restore[4]).toBe(
      "UPDATE mysql_servers SET status='OFFLINE_HARD' WHERE hostname='10.0.0.11' AND port=3306",
    );
    expect(restore.slice(1, 4).every((s) => s.startsWith('INSERT INTO mysql_servers (hostgroup_id'))).toBe(
      true,
    );
    expect(restore.slice(-2)).toEqual(['LOAD MYSQL SERVERS TO RUNTIME', 'SAVE MYSQL SERVERS TO DISK']);
  });

  it('warns when ProxySQL itself moves servers between hostgroups by read_only', async () => {
    admin('INSERT INTO mysql_replication_hostgroups (writer_hostgroup, reader_hostgroup) VALUES (10, 20);');
    const result = await run({ Destinations: '10.0.0.12:3306', Fenced: '10.0.0.11:3306', DryRun: 'true' });
    expect(result.exitCode).toBe(0);
    expect(result.result?.warnings.join(' ')).toContain('mysql_replication_hostgroups');
    expect(
      statements().some((s) => s.startsWith('LOAD') || s.startsWith('DELETE') || s.startsWith('UPDATE')),
    ).toBe(false);
  });
});
