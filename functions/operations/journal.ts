/**
 * The operation's journal in the coordination schema (written with sql_log_bin=0 through the
 * election's session, so it never replicates):
 * - `operation_plan`: the plan of an operation, stored by its first master. A master that takes over
 *   (crash, Lambda deadline) runs that plan, not one made from a snapshot taken mid-operation.
 * - `operation_step`: every step with start, end, outcome and detail; steps done are skipped by a
 *   master that resumes. It stays after the operation is removed: with `history` (the election's
 *   signals) it is the audit trail kept in the database.
 * - `fenced`: servers the watchdog took out of the routers and must rebuild before they serve again.
 */
import type { CoordinationDb } from '../election/db.js';
import { COORDINATION_SCHEMA } from '../election/schema.js';

const S = `\`${COORDINATION_SCHEMA}\``;

export const JOURNAL_STATEMENTS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS ${S}.operation_plan (
    opened_epoch BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    operation VARCHAR(32) NOT NULL,
    plan LONGTEXT NOT NULL,
    created_by VARCHAR(191) NOT NULL,
    created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
  ) ENGINE=InnoDB`,
  `CREATE TABLE IF NOT EXISTS ${S}.operation_step (
    opened_epoch BIGINT UNSIGNED NOT NULL,
    seq INT UNSIGNED NOT NULL,
    epoch BIGINT UNSIGNED NOT NULL,
    kind VARCHAR(32) NOT NULL,
    participant VARCHAR(191) NOT NULL,
    state ENUM('started','done','skipped','failed') NOT NULL,
    started_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    ended_at TIMESTAMP(6) NULL DEFAULT NULL,
    detail TEXT NULL,
    PRIMARY KEY (opened_epoch, seq)
  ) ENGINE=InnoDB`,
  `CREATE TABLE IF NOT EXISTS ${S}.fenced (
    server VARCHAR(191) NOT NULL PRIMARY KEY,
    opened_epoch BIGINT UNSIGNED NOT NULL,
    reason VARCHAR(255) NOT NULL,
    since TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
  ) ENGINE=InnoDB`,
];

export async function ensureJournal(db: CoordinationDb): Promise<void> {
  const [r] = await db.query<{ n: number }>(
    "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'ongoing_failover' AND table_name IN ('operation_plan', 'operation_step', 'fenced')",
  );
  if (Number(r?.n) === 3) return;
  await db.execute(`CREATE DATABASE IF NOT EXISTS ${S}`);
  for (const s of JOURNAL_STATEMENTS) await db.execute(s);
}

/** Stores the plan once per operation; returns the stored one (the first master's). */
export async function storePlan<T>(
  db: CoordinationDb,
  openedEpoch: number,
  operation: string,
  plan: T,
  participant: string,
): Promise<T> {
  await db.execute(
    `INSERT IGNORE INTO ${S}.operation_plan (opened_epoch, operation, plan, created_by) VALUES (?, ?, ?, ?)`,
    [openedEpoch, operation, JSON.stringify(plan), participant],
  );
  const stored = await loadPlan<T>(db, openedEpoch);
  return stored ?? plan;
}

export async function loadPlan<T>(db: CoordinationDb, openedEpoch: number): Promise<T | null> {
  const [row] = await db.query<{ plan: string }>(
    `SELECT plan FROM ${S}.operation_plan WHERE opened_epoch = ?`,
    [openedEpoch],
  );
  return row ? (JSON.parse(row.plan) as T) : null;
}

export interface JournalStep {
  seq: number;
  epoch: number;
  kind: string;
  participant: string;
  state: 'started' | 'done' | 'skipped' | 'failed';
  startedAtMs: number;
  endedAtMs: number | null;
  detail: string | null;
}

export async function readSteps(db: CoordinationDb, openedEpoch: number): Promise<JournalStep[]> {
  const rows = await db.query<Record<string, unknown>>(
    `SELECT seq, epoch, kind, participant, state, UNIX_TIMESTAMP(started_at) AS s, UNIX_TIMESTAMP(ended_at) AS e, detail
       FROM ${S}.operation_step WHERE opened_epoch = ? ORDER BY seq`,
    [openedEpoch],
  );
  return rows.map((r) => ({
    seq: Number(r.seq),
    epoch: Number(r.epoch),
    kind: String(r.kind),
    participant: String(r.participant),
    state: String(r.state) as JournalStep['state'],
    startedAtMs: Math.round(Number(r.s) * 1000),
    endedAtMs: r.e === null ? null : Math.round(Number(r.e) * 1000),
    detail: r.detail === null ? null : String(r.detail),
  }));
}

export async function stepStarted(
  db: CoordinationDb,
  row: { openedEpoch: number; seq: number; epoch: number; kind: string; participant: string },
): Promise<void> {
  await db.execute(
    `REPLACE INTO ${S}.operation_step (opened_epoch, seq, epoch, kind, participant, state, started_at)
     VALUES (?, ?, ?, ?, ?, 'started', NOW(6))`,
    [row.openedEpoch, row.seq, row.epoch, row.kind, row.participant],
  );
}

export async function stepEnded(
  db: CoordinationDb,
  row: { openedEpoch: number; seq: number; state: 'done' | 'skipped' | 'failed'; detail: string },
): Promise<void> {
  await db.execute(
    `UPDATE ${S}.operation_step SET state = ?, ended_at = NOW(6), detail = ? WHERE opened_epoch = ? AND seq = ?`,
    [row.state, row.detail.slice(0, 60_000), row.openedEpoch, row.seq],
  );
}

export async function markFenced(
  db: CoordinationDb,
  server: string,
  openedEpoch: number,
  reason: string,
): Promise<void> {
  await db.execute(
    `INSERT INTO ${S}.fenced (server, opened_epoch, reason) VALUES (?, ?, ?)
     ON DUPLICATE KEY UPDATE opened_epoch = VALUES(opened_epoch), reason = VALUES(reason)`,
    [server, openedEpoch, reason.slice(0, 255)],
  );
}

export async function clearFenced(db: CoordinationDb, server: string): Promise<void> {
  await db.execute(`DELETE FROM ${S}.fenced WHERE server = ?`, [server]);
}

/** Servers waiting for a rebuild; empty when the journal does not exist yet. */
export async function readFenced(db: CoordinationDb): Promise<string[]> {
  const [t] = await db.query<{ n: number }>(
    "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'ongoing_failover' AND table_name = 'fenced'",
  );
  if (Number(t?.n) !== 1) return [];
  return (await db.query<{ server: string }>(`SELECT server FROM ${S}.fenced ORDER BY server`)).map(
    (r) => r.server,
  );
}
