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
