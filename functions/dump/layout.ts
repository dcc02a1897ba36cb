/**
 * Names shared by dump and restore. The restore checkpoint is a table in the coordination schema on
 * the target: the watchdog account may write there (its grants cover it), dumps never include it,
 * and restores write it with sql_log_bin=0 so it never replicates.
 */
import { COORDINATION_SCHEMA } from '../election/schema.js';

export const COORDINATION_SCHEMA_NAME = COORDINATION_SCHEMA;
export const RESTORE_CHECKPOINT_SCHEMA = COORDINATION_SCHEMA;
export const RESTORE_CHECKPOINT_TABLE = 'restore_checkpoint';
export const SYSTEM_SCHEMAS = ['mysql', 'information_schema', 'performance_schema', 'sys'] as const;

/** Schemas a dump never contains. */
export function excludedSchemas(extra: readonly string[] = []): string[] {
  return [...new Set([...SYSTEM_SCHEMAS, COORDINATION_SCHEMA_NAME, RESTORE_CHECKPOINT_SCHEMA, ...extra])];
}

export const TOOL_NAME = 'mysql-failover';
export const TOOL_VERSION = '0.1.0';

/** Session settings every data object starts with (also what a restore by hand needs). */
export const dataObjectHeader = (charset: string, versioned = false): string =>
  [
    // History rows of a system-versioned table keep their ROW START/END (MariaDB 10.11+).
    ...(versioned ? ['/*M!101100 SET @@session.system_versioning_insert_history=1*/;'] : []),
    `/*!40101 SET NAMES ${charset}*/;`,
    '/*!40014 SET FOREIGN_KEY_CHECKS=0*/;',
    '/*!40014 SET UNIQUE_CHECKS=0*/;',
    "/*!40101 SET SQL_MODE='NO_AUTO_VALUE_ON_ZERO'*/;",
    "/*!40103 SET TIME_ZONE='+00:00'*/;",
  ].join('\n');

const SESSION_SETTING = /^\/\*M?!\d{5,6} SET [^;]*\*\/$/;

/**
 * Whether a statement of a data object is one a dump writes there: a session setting of its header
 * or an INSERT into the object's own table (leading `-- ` comment lines aside). Anything else — DDL,
 * which would commit the object's transaction on its own, or a write to another table — means the
 * object is not what the dump wrote, and it is refused before the statement runs.
 */
export function isDataObjectStatement(stmt: Buffer, insertPrefix: Buffer): boolean {
  let start = 0;
  while (stmt[start] === 0x2d && stmt[start + 1] === 0x2d && stmt[start + 2] === 0x20) {
    const nl = stmt.indexOf(0x0a, start);
    if (nl < 0) return false;
    start = nl + 1;
  }
  if (
    stmt.length - start >= insertPrefix.length &&
    stmt.subarray(start, start + insertPrefix.length).equals(insertPrefix)
  )
    return true;
  const line = stmt.subarray(start).toString('latin1');
  return !line.includes('\n') && SESSION_SETTING.test(line);
}
