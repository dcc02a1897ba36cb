/**
 * Helpers for the dump tests: loading the SQL fixtures of test/fixtures/dump (every object kind and
 * data type a dump must carry byte for byte) and comparing two servers.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerHandle } from '../../functions/sandbox/harness/index.js';

export const TYPES_DB = 'app_types';

/** The fixture files (SQL an operator could load by hand), shared by the dump tests. */
export const DUMP_FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'dump');

/**
 * Loads a fixture file as root through the mariadb client, as an operator would. The files name the
 * harness's watchdog account (`watchdog`@`%`) as DEFINER; `definer` replaces it when another account
 * restores.
 */
export async function loadDumpFixture(
  server: ServerHandle,
  file: string,
  options: { charset?: string; definer?: string } = {},
): Promise<void> {
  let sql = await readFile(join(DUMP_FIXTURES, file));
  if (options.definer && options.definer !== '`watchdog`@`%`')
    sql = Buffer.from(sql.toString('latin1').replaceAll('`watchdog`@`%`', options.definer), 'latin1');
  await new Promise<void>((resolve, reject) => {
    const child = execFile(
      'mariadb',
      [
        '--comments',
        `--socket=${server.socketPath}`,
        '-uroot',
        `--default-character-set=${options.charset ?? 'utf8mb4'}`,
      ],
      (error, _out, err) =>
        error ? reject(new Error(`loading ${file}: ${err || error.message}`)) : resolve(),
    );
    child.stdin?.end(sql);
  });
}

/** Creates the torture-style schema (test/fixtures/dump/types.sql) as root. */
export async function createTypesSchema(server: ServerHandle, definer: string): Promise<void> {
  await loadDumpFixture(server, 'types.sql', { definer });
}

export async function tablesOf(server: ServerHandle, schemas: string[]): Promise<string[]> {
  const rows = await server.query<{ s: string; n: string }[]>(
    `SELECT TABLE_SCHEMA AS s, TABLE_NAME AS n FROM information_schema.TABLES
      WHERE TABLE_SCHEMA IN (${schemas.map((s) => `'${s}'`).join(',')}) AND TABLE_TYPE = 'BASE TABLE'
      ORDER BY 1, 2`,
  );
  return rows.map((r) => `\`${r.s}\`.\`${r.n.replace(/`/g, '``')}\``);
}

/** CHECKSUM TABLE of every base table of the schemas, by name. */
export async function checksums(server: ServerHandle, schemas: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of await tablesOf(server, schemas)) {
    const [r] = await server.query<{ Checksum: unknown }[]>(`CHECKSUM TABLE ${t} EXTENDED`);
    out[t] = String(r?.Checksum);
  }
  return out;
}

/** SHOW CREATE output of every table, view, trigger, routine and event of a schema. */
export async function showCreates(server: ServerHandle, schema: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const q = (n: string) => `\`${schema}\`.\`${n.replace(/`/g, '``')}\``;
  const first = (r: Record<string, unknown> | undefined, col: string) => String(r?.[col]);
  const tables = await server.query<{ n: string; t: string }[]>(
    `SELECT TABLE_NAME AS n, TABLE_TYPE AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${schema}'`,
  );
  for (const t of tables) {
    if (t.t === 'VIEW') {
      const [r] = await server.query(`SHOW CREATE VIEW ${q(t.n)}`);
      out[`view ${t.n}`] = first(r, 'Create View');
    } else {
      const [r] = await server.query(`SHOW CREATE TABLE ${q(t.n)}`);
      out[`table ${t.n}`] = first(r, 'Create Table');
    }
  }
  for (const r of await server.query<{ n: string; t: string }[]>(
    `SELECT ROUTINE_NAME AS n, ROUTINE_TYPE AS t FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '${schema}'`,
  )) {
    const [c] = await server.query(`SHOW CREATE ${r.t} ${q(r.n)}`);
    out[`${r.t} ${r.n}`] = first(c, r.t === 'FUNCTION' ? 'Create Function' : 'Create Procedure');
  }
  for (const r of await server.query<{ n: string }[]>(
    `SELECT TRIGGER_NAME AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '${schema}'`,
  )) {
    const [c] = await server.query(`SHOW CREATE TRIGGER ${q(r.n)}`);
    out[`trigger ${r.n}`] = first(c, 'SQL Original Statement');
  }
  for (const r of await server.query<{ n: string }[]>(
    `SELECT EVENT_NAME AS n FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '${schema}'`,
  )) {
    const [c] = await server.query(`SHOW CREATE EVENT ${q(r.n)}`);
    out[`event ${r.n}`] = first(c, 'Create Event');
  }
  return out;
}

/** Makes a replica a standalone server (the restore target of a rebuild). */
export async function detach(server: ServerHandle): Promise<void> {
  await server.query('STOP SLAVE');
  await server.query('RESET SLAVE ALL');
}

/**
 * The resume tests' schema `db` on `server`: `big` (a primary key and a secondary key, `bigRows` rows),
 * `heap` (no primary key, `heapRows` rows) and `w` (2,000 rows a writer changes).
 */
export async function createResumeTables(
  server: ServerHandle,
  db: string,
  rows: { big: number; heap: number },
): Promise<void> {
  await server.query(`CREATE DATABASE ${db}`);
  await server.query(
    `CREATE TABLE ${db}.big (id INT AUTO_INCREMENT PRIMARY KEY, k INT NOT NULL, pad VARCHAR(200), KEY (k)) ENGINE=InnoDB`,
  );
  await server.query(
    `INSERT INTO ${db}.big (k, pad) SELECT seq % 101, REPEAT(CHAR(65 + seq % 26), 150) FROM ${db}.seq_1_to_${rows.big}`,
  );
  await server.query(`CREATE TABLE ${db}.heap (a INT, b VARCHAR(200)) ENGINE=InnoDB`);
  await server.query(
    `INSERT INTO ${db}.heap SELECT seq % 7, REPEAT('x', 150) FROM ${db}.seq_1_to_${rows.heap}`,
  );
  await server.query(
    `CREATE TABLE ${db}.w (id INT AUTO_INCREMENT PRIMARY KEY, n INT NOT NULL, t VARCHAR(40)) ENGINE=InnoDB`,
  );
  await server.query(`INSERT INTO ${db}.w (n, t) SELECT seq, 'initial' FROM ${db}.seq_1_to_2000`);
}
