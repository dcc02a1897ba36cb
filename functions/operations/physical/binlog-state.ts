/**
 * The source's whole MariaDB binlog state (the last seq of every domain-server pair) at the position a
 * physical backup was taken, for the rebuilt server's `gtid_binlog_state`. The backup records only
 * the binlog file, the offset and the newest GTID per domain; a later salvage compares binlog states,
 * and would count every other writer's history (an earlier primary's transactions) as missing.
 *
 * Exact, from the source's own binary log: the file's Gtid_list event is the state at the start of
 * the file, and every GTID event before the backup's offset advances it. Null when the file is gone
 * (purged) or not readable: the caller then sets the position alone.
 */

import type { ServerAdmin } from '../admin.js';
import { str } from '../admin.js';

const GTID = /(\d+)-(\d+)-(\d+)/g;

/** Applies one SHOW BINLOG EVENTS row to the state (pure). */
export function advanceState(state: Map<string, bigint>, eventType: string, info: string): void {
  if (eventType !== 'Gtid_list' && eventType !== 'Gtid') return;
  const matches =
    eventType === 'Gtid' ? [...info.matchAll(/GTID (\d+)-(\d+)-(\d+)/g)] : [...info.matchAll(GTID)];
  for (const m of matches) state.set(`${m[1]}-${m[2]}`, BigInt(m[3]!));
}

export function formatState(state: Map<string, bigint>): string {
  return [...state.entries()]
    .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
    .map(([k, seq]) => `${k}-${seq}`)
    .join(',');
}

export async function binlogStateAt(
  source: ServerAdmin,
  file: string,
  position: number,
  // Small pages: with binlog_annotate_row_events (MariaDB's default) every row event group carries its
  // statement's text in Info, and a bulk load's statements are hundreds of KB each; 5,000 events a
  // page held tens of MB of it at once (the function's memory). On sysbench's bulk loads (512 KB
  // statements) a bundled process scanning 637 of them peaked at about 137 MiB RSS with pages of 200
  // events and about 100 MiB with 50, for 0.6 s against 1.0 s.
  pageSize = 50,
): Promise<string | null> {
  if (!source.flavor.isMariadb || file === '' || position <= 0) return null;
  const state = new Map<string, bigint>();
  let from = 4;
  try {
    for (;;) {
      const rows = await source.query<Record<string, unknown>>(
        `SHOW BINLOG EVENTS IN ? FROM ${from} LIMIT ${pageSize}`,
        [file],
      );
      for (const r of rows) {
        if (Number(str(r.Pos)) >= position) return formatState(state);
        advanceState(state, str(r.Event_type), str(r.Info));
      }
      const last = rows.at(-1);
      if (!last || rows.length < pageSize) return formatState(state);
      from = Number(str(last.End_log_pos));
    }
  } catch {
    return null;
  }
}
