/**
 * The physical reseed's part of the operation journal: one row per operation, target and stage with
 * the command id that runs it on a host, its attempt, state, last progress and result. Written through
 * the election's session (sql_log_bin=0), read by every later run and by `repl-watchdog status`.
 */
import type { CoordinationDb } from '../../election/db.js';
import { COORDINATION_SCHEMA } from '../../election/schema.js';
import { str } from '../admin.js';
import type { ReseedScriptResult } from './commands.js';
import type { PhysicalAction } from './parameters.js';
import type { ReseedProgress } from './progress.js';

export const T = `\`${COORDINATION_SCHEMA}\`.reseed_command`;

export const RESEED_COMMAND_TABLE = `CREATE TABLE IF NOT EXISTS ${T} (
    opened_epoch BIGINT UNSIGNED NOT NULL,
    server VARCHAR(191) NOT NULL,
    stage VARCHAR(16) NOT NULL,
    attempt INT UNSIGNED NOT NULL,
    runner VARCHAR(16) NOT NULL,
    command_id VARCHAR(100) NOT NULL,
    state ENUM('running','done','failed') NOT NULL,
    started_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    progress TEXT NULL,
    result TEXT NULL,
    PRIMARY KEY (opened_epoch, server, stage)
  ) ENGINE=InnoDB`;

export async function ensureReseedJournal(db: CoordinationDb): Promise<void> {
  await db.execute(`CREATE DATABASE IF NOT EXISTS \`${COORDINATION_SCHEMA}\``);
  await db.execute(RESEED_COMMAND_TABLE);
}

/** A host command's stage, or `clone`: MySQL's CLONE statement, followed on the recipient. */
export type JournalStage = PhysicalAction | 'clone';

export interface CommandRow {
  server: string;
  stage: JournalStage;
  attempt: number;
  runner: string;
  commandId: string;
  state: 'running' | 'done' | 'failed';
  progress: ReseedProgress | null;
  result: ReseedScriptResult | null;
}

function toRow(r: Record<string, unknown>): CommandRow {
  const json = <V>(v: unknown): V | null =>
    v === null || v === undefined ? null : (JSON.parse(str(v)) as V);
  return {
    server: str(r.server),
    stage: str(r.stage) as JournalStage,
    attempt: Number(r.attempt),
    runner: str(r.runner),
    commandId: str(r.command_id),
    state: str(r.state) as CommandRow['state'],
    progress: json<ReseedProgress>(r.progress),
    result: json<ReseedScriptResult>(r.result),
  };
}

export async function readCommand(
  db: CoordinationDb,
  openedEpoch: number,
  server: string,
  stage: JournalStage,
): Promise<CommandRow | null> {
  const [r] = await db.query<Record<string, unknown>>(
    `SELECT * FROM ${T} WHERE opened_epoch = ? AND server = ? AND stage = ?`,
    [openedEpoch, server, stage],
  );
  return r ? toRow(r) : null;
}

/** The progress of every physical reseed still running (for `repl-watchdog status`); [] without a journal. */
export async function readRunningReseeds(db: CoordinationDb): Promise<ReseedProgress[]> {
  const [t] = await db.query<{ n: number }>(
    "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'ongoing_failover' AND table_name = 'reseed_command'",
  );
  if (Number(t?.n) !== 1) return [];
  const rows = await db.query<Record<string, unknown>>(
    `SELECT * FROM ${T} WHERE state = 'running' ORDER BY updated_at DESC LIMIT 20`,
  );
  // A command whose helper has not reported yet still shows, with nothing counted.
  return rows.map(toRow).map(
    (r) =>
      r.progress ?? {
        server: r.server,
        method: 'physical',
        stage: r.stage,
        bytes: 0,
        totalBytes: 0,
        rateBytesPerSecond: 0,
        etaSeconds: null,
        percent: null,
        updatedAt: '',
      },
  );
}
