/**
 * Names shared by dump and restore. The restore checkpoint lives in its own schema on the target,
 * written with the data in one transaction per object, and is never dumped.
 */
import { COORDINATION_SCHEMA } from '../election/schema.js';

export const COORDINATION_SCHEMA_NAME = COORDINATION_SCHEMA;
export const RESTORE_CHECKPOINT_SCHEMA = 'mysql_failover_restore';
export const SYSTEM_SCHEMAS = ['mysql', 'information_schema', 'performance_schema', 'sys'] as const;

/** Schemas a dump never contains. */
export function excludedSchemas(extra: readonly string[] = []): string[] {
  return [...SYSTEM_SCHEMAS, COORDINATION_SCHEMA_NAME, RESTORE_CHECKPOINT_SCHEMA, ...extra];
}

export const TOOL_NAME = 'mysql-failover';
export const TOOL_VERSION = '0.1.0';

/** Session settings every data object starts with (also what a restore by hand needs). */
export const DATA_OBJECT_HEADER = [
  '/*!40101 SET NAMES binary*/;',
  '/*!40014 SET FOREIGN_KEY_CHECKS=0*/;',
  '/*!40014 SET UNIQUE_CHECKS=0*/;',
  "/*!40101 SET SQL_MODE='NO_AUTO_VALUE_ON_ZERO'*/;",
  "/*!40103 SET TIME_ZONE='+00:00'*/;",
].join('\n');
