/**
 * Read-only view of the election for `repl-watchdog status`: the ongoing operation (if any) with its
 * signals, and the last finished operations from the history table. Never writes.
 */
import type { CoordinationDb } from './db.js';
import { readView } from './protocol.js';
import { epochSignals, mastersPerEpoch, type OperationRow, type SignalRow } from './rules.js';
import { TABLES } from './schema.js';

export interface OngoingOperation extends OperationRow {
  /** Signals of the current epoch, in order. */
  signals: SignalRow[];
  /** Signals of earlier epochs of this operation (crashed masters), still in `status`. */
  staleSignals: SignalRow[];
  firstScanAtMs: number | null;
}

export interface FinishedOperation {
  openedEpoch: number;
  lastEpoch: number;
  outcome: string;
  closedBy: string;
  closedAtMs: number;
  firstScanToRemovalMs: number | null;
  masters: Record<number, string[]>;
  signals: number;
}

export interface ElectionStatus {
  dbNowMs: number;
  ongoing: OngoingOperation | null;
  recent: FinishedOperation[];
}

interface TableCount {
  n: number;
}

/** The election state for `repl-watchdog status`; empty when the coordination schema does not exist. */
export async function readOperation(
  db: CoordinationDb,
  options: { recent?: number } = {},
): Promise<ElectionStatus> {
  const [tables] = await db.query<TableCount>(
    "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'ongoing_failover'" +
      " AND table_name IN ('operation', 'status', 'history')",
  );
  if (Number(tables?.n) !== 3) {
    const [now] = await db.query<{ now_s: string }>('SELECT UNIX_TIMESTAMP(NOW(6)) AS now_s');
    return { dbNowMs: Number(now?.now_s ?? 0) * 1000, ongoing: null, recent: [] };
  }
  const view = await readView(db);
  let ongoing: OngoingOperation | null = null;
  if (view.operation) {
    const signals = epochSignals(view.signals, view.operation.epoch);
    const scans = view.signals.filter((s) => s.sig === 'SCAN').map((s) => s.atMs);
    ongoing = {
      ...view.operation,
      signals,
      staleSignals: view.signals.filter((s) => s.epoch !== view.operation?.epoch),
      firstScanAtMs: scans.length > 0 ? Math.min(...scans) : null,
    };
  }
  const limit = Math.max(0, Math.min(100, options.recent ?? 5));
  const recent: FinishedOperation[] = [];
  if (limit > 0) {
    const ops = await db.query<{ opened_epoch: number }>(
      `SELECT DISTINCT opened_epoch FROM ${TABLES.history} ORDER BY opened_epoch DESC LIMIT ${limit}`,
    );
    for (const { opened_epoch } of ops) {
      const rows = await db.query<{
        epoch: number;
        sig: SignalRow['sig'];
        participant: string;
        outcome: string;
        closed_by: string;
        closed_s: string;
        at_s: string;
      }>(
        `SELECT epoch, sig, participant, outcome, closed_by, UNIX_TIMESTAMP(closed_at) AS closed_s,
                UNIX_TIMESTAMP(created_at) AS at_s
           FROM ${TABLES.history} WHERE opened_epoch = ? AND epoch >= ? ORDER BY id`,
        [opened_epoch, opened_epoch],
      );
      if (rows.length === 0) continue;
      const last = rows[rows.length - 1]!;
      const scans = rows.filter((r) => r.sig === 'SCAN').map((r) => Number(r.at_s) * 1000);
      const closedAtMs = Number(last.closed_s) * 1000;
      const masters = mastersPerEpoch(
        rows.map((r) => ({ epoch: Number(r.epoch), sig: r.sig, participant: r.participant })),
      );
      recent.push({
        openedEpoch: Number(opened_epoch),
        lastEpoch: Math.max(...rows.map((r) => Number(r.epoch))),
        outcome: last.outcome,
        closedBy: last.closed_by,
        closedAtMs,
        firstScanToRemovalMs: scans.length > 0 ? Math.round(closedAtMs - Math.min(...scans)) : null,
        masters: Object.fromEntries(masters),
        signals: rows.length,
      });
    }
  }
  return { dbNowMs: view.dbNowMs, ongoing, recent };
}

/** Text lines for the CLI: one line per signal of the ongoing operation, with its epoch and timing. */
export function formatElectionStatus(status: ElectionStatus): string[] {
  const lines: string[] = [];
  const op = status.ongoing;
  if (!op) {
    lines.push('election: no operation in progress');
  } else {
    const lease = op.leaseExpired
      ? `expired ${Math.round(-op.leaseRemainingMs)} ms ago`
      : `${Math.round(op.leaseRemainingMs)} ms left`;
    lines.push(
      `election: operation ${op.op} (opened at epoch ${op.openedEpoch}, now epoch ${op.epoch}), master ${op.master ?? '(none yet)'}, lease ${lease}`,
    );
    for (const s of op.signals) {
      const ms = op.firstScanAtMs === null ? 0 : Math.round(s.atMs - op.firstScanAtMs);
      lines.push(
        `  epoch ${s.epoch}  +${ms} ms  ${s.sig} ${s.value}${s.sig === 'SCAN' || s.participant === s.value ? '' : `  (${s.participant})`}`,
      );
    }
    if (op.staleSignals.length > 0)
      lines.push(`  ${op.staleSignals.length} signal(s) of earlier epochs ignored`);
  }
  for (const r of status.recent) {
    const masters = Object.entries(r.masters)
      .map(([epoch, ps]) => `${epoch}:${ps.join('+')}`)
      .join(' ');
    lines.push(
      `finished: epoch ${r.openedEpoch}..${r.lastEpoch} ${r.outcome} by ${r.closedBy}, masters ${masters || '-'}, ${r.firstScanToRemovalMs ?? '?'} ms`,
    );
  }
  return lines;
}
