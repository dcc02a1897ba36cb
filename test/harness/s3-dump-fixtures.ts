/**
 * Fixtures for the dump tests (kept next to the local S3 endpoint they use): a schema with every
 * object kind and data type a dump must carry byte for byte, and helpers that compare two servers.
 */
import type { ServerHandle } from '../../functions/sandbox/harness/index.js';

export const TYPES_DB = 'app_types';

/** `definer` is the account restores run as, so restored objects keep their DEFINER exactly. */
export const typesSchema = (definer: string): string[] => [
  `CREATE DATABASE ${TYPES_DB} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
  `USE ${TYPES_DB}`,
  `CREATE TABLE ${TYPES_DB}.t_all (
     id INT AUTO_INCREMENT PRIMARY KEY,
     b BINARY(4), vb VARBINARY(32), bl BLOB, lb LONGBLOB,
     txt TEXT, vc VARCHAR(100), lat VARCHAR(20) CHARACTER SET latin1, maybe VARCHAR(10) NULL,
     d DATE, dt DATETIME(6), ts TIMESTAMP(3) NULL DEFAULT NULL, tm TIME(4), yr YEAR,
     dec1 DECIMAL(30,10), f FLOAT, dbl DOUBLE,
     bits BIT(10), e ENUM('a','b','c'), s SET('x','y','z'),
     j JSON, g GEOMETRY, pt POINT,
     big BIGINT UNSIGNED, tiny TINYINT,
     gen_v INT AS (id * 2) VIRTUAL,
     gen_s VARCHAR(120) AS (CONCAT(IFNULL(vc, ''), '!')) PERSISTENT
   ) ENGINE=InnoDB AUTO_INCREMENT=1000`,
  // Zero dates need a permissive sql_mode, as on servers that hold such data.
  `SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'`,
  `INSERT INTO ${TYPES_DB}.t_all (b, vb, bl, lb, txt, vc, lat, maybe, d, dt, ts, tm, yr, dec1, f, dbl, bits, e, s, j, g, pt, big, tiny)
   VALUES (0x00275c0a, 0x0d1a22ff00, 0x000102030405060708090a0b0c0d0e0f27225c, REPEAT(0xfe00, 5000),
     'line1\\nline2\\r\\n\\ttab \\\\ back ''quote'' "dq" \\Z end', 'emoji 😀 𝄞 é ß 中文', _latin1 0x636166e9, '',
     '0000-00-00', '0000-00-00 00:00:00.000000', '2038-01-19 03:14:07.999', '-838:59:59.9999', 0,
     '-12345678901234567890.0123456789', 3.14159, 1.7976931348623157e308, b'1010101010', 'b', 'x,z',
     '{"a":[1,2,{"b":null}],"s":"é😀","n":1.5e300}',
     ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0),(2 2,3 2,3 3,2 2))'), POINT(1.5, -2.25),
     18446744073709551615, -128)`,
  `INSERT INTO ${TYPES_DB}.t_all (b) VALUES (NULL)`,
  `INSERT INTO ${TYPES_DB}.t_all (b, vb, bl, txt, vc, lat, maybe, d, dt, tm, yr, dec1, f, dbl, bits, e, s, j, big, tiny)
   VALUES (0x00000000, '', '', '', '', '', '', '9999-12-31', '9999-12-31 23:59:59.999999', '838:59:59.0000', 2155,
     '0.0000000001', -0.0, 2.2250738585072014e-308, b'0', '', '', '[]', 0, 127)`,
  `SET SESSION sql_mode = DEFAULT`,
  `CREATE TABLE ${TYPES_DB}.parent (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL UNIQUE) ENGINE=InnoDB`,
  `CREATE TABLE ${TYPES_DB}.child (
     id INT AUTO_INCREMENT PRIMARY KEY, parent_id INT NOT NULL, note VARCHAR(40), stamp VARCHAR(40),
     CONSTRAINT fk_child_parent FOREIGN KEY (parent_id) REFERENCES ${TYPES_DB}.parent (id) ON DELETE CASCADE
   ) ENGINE=InnoDB`,
  `INSERT INTO ${TYPES_DB}.parent VALUES (1, 'one'), (2, 'two')`,
  `INSERT INTO ${TYPES_DB}.child (parent_id, note) VALUES (1, 'a'), (2, 'b'), (2, 'c')`,
  `CREATE TABLE ${TYPES_DB}.no_pk (a INT, b VARCHAR(10)) ENGINE=InnoDB`,
  `INSERT INTO ${TYPES_DB}.no_pk VALUES (1, 'x'), (1, 'x'), (NULL, NULL)`,
  `CREATE TABLE ${TYPES_DB}.composite (a INT, b VARCHAR(10), v INT, PRIMARY KEY (a, b)) ENGINE=InnoDB`,
  `INSERT INTO ${TYPES_DB}.composite VALUES (1, 'a', 1), (1, 'b', 2)`,
  `CREATE TABLE ${TYPES_DB}.empty_one (id BIGINT PRIMARY KEY) ENGINE=InnoDB`,
  `CREATE TABLE ${TYPES_DB}.aria_log (id INT PRIMARY KEY, msg VARCHAR(20)) ENGINE=Aria`,
  `INSERT INTO ${TYPES_DB}.aria_log VALUES (1, 'non-transactional')`,
  `CREATE TABLE ${TYPES_DB}.\`odd name; with \`\`tick\`\`\` (id INT PRIMARY KEY, \`col ümlaut\` VARCHAR(10)) ENGINE=InnoDB`,
  `INSERT INTO ${TYPES_DB}.\`odd name; with \`\`tick\`\`\` VALUES (1, 'ü')`,
  // A big table, split in chunks by primary key.
  `CREATE TABLE ${TYPES_DB}.big (id INT AUTO_INCREMENT PRIMARY KEY, k INT NOT NULL, pad CHAR(60) NOT NULL, KEY k (k)) ENGINE=InnoDB`,
  `INSERT INTO ${TYPES_DB}.big (k, pad) SELECT seq % 97, CONCAT('pad-', seq) FROM seq_1_to_3000`,
  // Views: the one named first alphabetically reads the other, so key order is not dependency order.
  `CREATE DEFINER=${definer} VIEW ${TYPES_DB}.a_view_on_view AS SELECT id, vc FROM ${TYPES_DB}.z_base_view WHERE id > 0`,
  `CREATE SEQUENCE ${TYPES_DB}.seq1 START WITH 100 INCREMENT BY 5`,
  `SELECT NEXTVAL(${TYPES_DB}.seq1)`,
  `CREATE DEFINER=${definer} TRIGGER ${TYPES_DB}.child_stamp BEFORE INSERT ON ${TYPES_DB}.child FOR EACH ROW
   BEGIN
     SET NEW.stamp = CONCAT('trg;', NEW.note);
   END`,
  `CREATE DEFINER=${definer} PROCEDURE ${TYPES_DB}.count_children(IN p INT, OUT n INT)
   BEGIN
     DECLARE x INT DEFAULT 0;
     SELECT COUNT(*) INTO x FROM ${TYPES_DB}.child WHERE parent_id = p;
     SET n = x; -- a comment; with a semicolon
   END`,
  `CREATE DEFINER=${definer} FUNCTION ${TYPES_DB}.twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2`,
  `CREATE DEFINER=${definer} EVENT ${TYPES_DB}.nightly ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE
   DO DELETE FROM ${TYPES_DB}.no_pk WHERE a IS NULL`,
];

/** The view another view depends on; created before it (the fixture has to, too). */
const baseView = (definer: string) =>
  `CREATE DEFINER=${definer} VIEW ${TYPES_DB}.z_base_view AS SELECT id, vc FROM ${TYPES_DB}.t_all`;

/** Creates the schema as root; views, triggers, routines and events get `definer` (e.g. "`watchdog`@`%`"). */
export async function createTypesSchema(server: ServerHandle, definer: string): Promise<void> {
  // One connection: the session sql_mode for the zero dates must carry over.
  const c = await server.connect();
  try {
    for (const sql of typesSchema(definer)) {
      if (sql.includes('a_view_on_view')) await c.query(baseView(definer));
      await c.query(sql);
    }
  } finally {
    await c.end();
  }
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
