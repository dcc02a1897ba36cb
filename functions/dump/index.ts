/** Streaming gzipped dumps to object storage and back (see README.md in this folder). */
export {
  type CommandContext,
  DUMP_USAGE,
  RESTORE_USAGE,
  runDumpCommand,
  runRestoreCommand,
} from './cli.js';
export { type ConnectTarget, parseHostPort } from './connection.js';
export { type DumpOptions, type DumpResult, dumpDatabase } from './dump.js';
export { COORDINATION_SCHEMA_NAME, excludedSchemas, RESTORE_CHECKPOINT_SCHEMA } from './layout.js';
export { type LoadSqlOptions, type LoadSqlResult, loadSqlDump } from './load-sql.js';
export { type DumpObject, MANIFEST_KEY, type Manifest, parseManifest } from './manifest.js';
export { formatProgress, type ProgressListener, type ProgressReport } from './progress.js';
export { loadVerifiedManifest, type RestoreOptions, type RestoreResult, restoreDump } from './restore.js';
