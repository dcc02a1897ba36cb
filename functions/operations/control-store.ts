/**
 * The operator-control store: maintenance windows and the history of primary changes (what anti-flap
 * reads), kept in `ongoing_failover.control` on EVERY configured server, written with sql_log_bin=0
 * (through the coordination session) and read as the union of what the reachable servers hold, the
 * newest version of each entry winning. Why this shape (functions/operations/README.md, "Operator
 * policy"):
 * - every watchdog sees the same entries whichever server coordinates: it reads them all;
 * - the loss of any one server loses nothing: each entry is on every server that answered the write
 *   (a write that reaches fewer than two servers of a cluster of two or more says so);
 * - nothing replicates, so a control row never becomes an errant transaction, a replication stop or
 *   one more difference to reconcile after a failover; `ongoing_failover` is left out of dumps and
 *   kept by a reseed, so a rebuilt server keeps its rows;
 * - a server that missed a write (down, replaced) is brought up to date by the next read (`repair`).
 */

import { mysqlTls } from '../cluster/tls.js';
import type { Config } from '../config/schema.js';
import type { MaintenanceWindow, PrimaryChange } from '../core/policy.js';
import { type CoordinationDb, connectCoordinationDb } from '../election/db.js';
import { COORDINATION_SCHEMA } from '../election/schema.js';
import { errorMessage } from '../errors.js';

const T = `\`${COORDINATION_SCHEMA}\`.control`;

export const CONTROL_STATEMENTS: readonly string[] = [
  `CREATE DATABASE IF NOT EXISTS \`${COORDINATION_SCHEMA}\``,
  `CREATE TABLE IF NOT EXISTS ${T} (
    entry_key VARCHAR(191) NOT NULL PRIMARY KEY,
    kind VARCHAR(32) NOT NULL,
    body TEXT NOT NULL,
    version_ms BIGINT NOT NULL,
    written_by VARCHAR(191) NOT NULL
  ) ENGINE=InnoDB`,
];

export type ControlEntry =
  | { key: string; kind: 'maintenance'; body: MaintenanceWindow; versionMs: number; writtenBy: string }
  | { key: string; kind: 'primary-change'; body: PrimaryChange; versionMs: number; writtenBy: string };

export interface ControlState {
  maintenance: MaintenanceWindow[];
  history: PrimaryChange[];
  /** Servers read, and those that could not be (with the message). */
  readFrom: string[];
  unreadable: Array<{ server: string; error: string }>;
  /** Servers brought up to date by this read. */
  repaired: string[];
}

export interface WriteResult {
  writtenTo: string[];
  failed: Array<{ server: string; error: string }>;
}

export const maintenanceKey = (scope: string): string => `maintenance:${scope}`;

/** One entry per completed operation: the coordination server and epoch name it for every participant. */
export const primaryChangeKey = (coordinationServer: string, openedEpoch: number): string =>
  `primary-change:${coordinationServer}:${openedEpoch}`;

/** Opens one coordination session per configured server (unreachable ones reported, not thrown). */
export async function connectAll(
  config: Config,
): Promise<{ dbs: Array<{ server: string; db: CoordinationDb }>; failed: WriteResult['failed'] }> {
  const cred = config.credentials.watchdog!;
  const settled = await Promise.allSettled(
    config.servers.map((s) =>
      connectCoordinationDb({
        host: s.host,
        port: s.port,
        ...cred,
        ...mysqlTls(config.tls),
        connectTimeoutMs: config.timeouts.connectMs,
        queryTimeoutMs: config.timeouts.queryMs,
      }),
    ),
  );
  const dbs: Array<{ server: string; db: CoordinationDb }> = [];
  const failed: WriteResult['failed'] = [];
  settled.forEach((r, i) => {
    const server = config.servers[i]!.id;
    if (r.status === 'fulfilled') dbs.push({ server, db: r.value });
    else failed.push({ server, error: errorMessage(r.reason) });
  });
  return { dbs, failed };
}

async function ensureTable(db: CoordinationDb): Promise<void> {
  const [r] = await db.query<{ n: number }>(
    `SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = ? AND table_name = 'control'`,
    [COORDINATION_SCHEMA],
  );
  if (Number(r?.n) === 1) return;
  for (const s of CONTROL_STATEMENTS) await db.execute(s);
}

async function upsert(db: CoordinationDb, entries: readonly ControlEntry[]): Promise<void> {
  await ensureTable(db);
  for (const e of entries) {
    // Newest wins: an older version (a slow writer, a repair racing a new write) never overwrites.
    await db.execute(
      `INSERT INTO ${T} (entry_key, kind, body, version_ms, written_by) VALUES (?, ?, ?, ?, ?)
       ON DUPLICATE KEY UPDATE
         body = IF(VALUES(version_ms) >= version_ms, VALUES(body), body),
         written_by = IF(VALUES(version_ms) >= version_ms, VALUES(written_by), written_by),
         version_ms = GREATEST(version_ms, VALUES(version_ms))`,
      [e.key, e.kind, JSON.stringify(e.body), e.versionMs, e.writtenBy],
    );
  }
}

async function readEntries(db: CoordinationDb): Promise<ControlEntry[]> {
  const [t] = await db.query<{ n: number }>(
    `SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = ? AND table_name = 'control'`,
    [COORDINATION_SCHEMA],
  );
  if (Number(t?.n) !== 1) return [];
  const rows = await db.query<Record<string, unknown>>(
    `SELECT entry_key, kind, body, version_ms, written_by FROM ${T}`,
  );
  return rows.map(
    (r) =>
      ({
        key: String(r.entry_key),
        kind: String(r.kind),
        body: JSON.parse(String(r.body)),
        versionMs: Number(r.version_ms),
        writtenBy: String(r.written_by),
      }) as ControlEntry,
  );
}

/** The union of entry lists, the highest version of each key winning. */
export function mergeEntries(lists: ReadonlyArray<readonly ControlEntry[]>): ControlEntry[] {
  const byKey = new Map<string, ControlEntry>();
  for (const list of lists)
    for (const e of list) {
      const known = byKey.get(e.key);
      if (!known || e.versionMs > known.versionMs) byKey.set(e.key, e);
    }
  return [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

async function closeAll(dbs: Array<{ db: CoordinationDb }>): Promise<void> {
  await Promise.allSettled(dbs.map((d) => d.db.close()));
}

/** Writes entries to every configured server that answers. */
export async function writeControl(config: Config, entries: readonly ControlEntry[]): Promise<WriteResult> {
  const { dbs, failed } = await connectAll(config);
  try {
    const settled = await Promise.allSettled(dbs.map((d) => upsert(d.db, entries)));
    const writtenTo: string[] = [];
    settled.forEach((r, i) => {
      if (r.status === 'fulfilled') writtenTo.push(dbs[i]!.server);
      else failed.push({ server: dbs[i]!.server, error: errorMessage(r.reason) });
    });
    return { writtenTo, failed };
  } finally {
    await closeAll(dbs);
  }
}

/**
 * Reads every reachable server and merges. With `repair`, a server that lacks an entry (or holds an
 * older version) gets the newest one, so a server that was down during a write catches up.
 */
export async function readControl(config: Config, options: { repair?: boolean } = {}): Promise<ControlState> {
  const { dbs, failed } = await connectAll(config);
  try {
    const settled = await Promise.allSettled(dbs.map((d) => readEntries(d.db)));
    const lists: Array<{ server: string; db: CoordinationDb; entries: ControlEntry[] }> = [];
    const unreadable = [...failed];
    settled.forEach((r, i) => {
      if (r.status === 'fulfilled') lists.push({ ...dbs[i]!, entries: r.value });
      else unreadable.push({ server: dbs[i]!.server, error: errorMessage(r.reason) });
    });
    const merged = mergeEntries(lists.map((l) => l.entries));
    const repaired: string[] = [];
    if (options.repair) {
      await Promise.allSettled(
        lists.map(async (l) => {
          const have = new Map(l.entries.map((e) => [e.key, e.versionMs]));
          const stale = merged.filter((e) => (have.get(e.key) ?? -1) < e.versionMs);
          if (stale.length === 0) return;
          await upsert(l.db, stale);
          repaired.push(l.server);
        }),
      );
    }
    return {
      maintenance: merged.flatMap((e) => (e.kind === 'maintenance' ? [e.body] : [])),
      history: merged.flatMap((e) => (e.kind === 'primary-change' ? [e.body] : [])),
      readFrom: lists.map((l) => l.server),
      unreadable,
      repaired: repaired.sort(),
    };
  } finally {
    await closeAll(dbs);
  }
}
