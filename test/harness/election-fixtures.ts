/**
 * Helpers shared by the election integration tests and the benchmark: run N participants on separate
 * connections in this process, read the audit back as root, reset the coordination schema.
 */
import { type CoordinationDb, connectCoordinationDb } from '../../functions/election/db.js';
import {
  type OperationReport,
  type RunOperationOptions,
  runOperation,
} from '../../functions/election/protocol.js';
import { mastersPerEpoch } from '../../functions/election/rules.js';
import { COORDINATION_SCHEMA } from '../../functions/election/schema.js';
import type { ServerHandle } from '../../functions/sandbox/harness/index.js';

export interface Endpoint {
  host: string;
  port: number;
  user: string;
  password: string;
}

export function endpointOf(server: ServerHandle, account: { user: string; password: string }): Endpoint {
  return { host: server.host, port: server.port, user: account.user, password: account.password };
}

export async function resetCoordination(server: ServerHandle): Promise<void> {
  await server.query(`SET SESSION sql_log_bin = 0`).catch(() => {});
  await server.query(`DROP DATABASE IF EXISTS \`${COORDINATION_SCHEMA}\``);
}

export interface HistoryRow {
  id: number;
  epoch: number;
  opened_epoch: number;
  sig: string;
  value: string;
  participant: string;
  outcome: string;
  closed_by: string;
  at_ms: number;
  closed_ms: number;
}

export async function historyRows(server: ServerHandle): Promise<HistoryRow[]> {
  const rows = await server.query<Record<string, unknown>[]>(
    `SELECT id, epoch, opened_epoch, sig, value, participant, outcome, closed_by,
            UNIX_TIMESTAMP(created_at) * 1000 AS at_ms, UNIX_TIMESTAMP(closed_at) * 1000 AS closed_ms
       FROM \`${COORDINATION_SCHEMA}\`.history ORDER BY id`,
  );
  return rows.map((r) => ({
    id: Number(r.id),
    epoch: Number(r.epoch),
    opened_epoch: Number(r.opened_epoch),
    sig: String(r.sig),
    value: String(r.value),
    participant: String(r.participant),
    outcome: String(r.outcome),
    closed_by: String(r.closed_by),
    at_ms: Number(r.at_ms),
    closed_ms: Number(r.closed_ms),
  }));
}

export async function liveCounts(server: ServerHandle): Promise<{ operations: number; signals: number }> {
  const [row] = await server.query<{ o: number; s: number }[]>(
    `SELECT (SELECT COUNT(*) FROM \`${COORDINATION_SCHEMA}\`.operation) AS o,
            (SELECT COUNT(*) FROM \`${COORDINATION_SCHEMA}\`.status) AS s`,
  );
  return { operations: Number(row?.o), signals: Number(row?.s) };
}

/** Masters of every epoch in the history; the "never two masters in one epoch" check. */
export function historyMasters(rows: readonly HistoryRow[]): Map<number, string[]> {
  return mastersPerEpoch(
    rows.map((r) => ({ epoch: r.epoch, sig: r.sig as 'MAST', participant: r.participant })),
  );
}

export interface InProcessRound {
  reports: OperationReport[];
  /** What each follower's asFollower was asked to switch to. */
  switched: Map<string, string>;
  /** Master contexts seen (one per master call). */
  targ: string;
}

/** Opens `n` coordination sessions (separate connections), to be closed by the caller. */
export async function openSessions(endpoint: Endpoint, n: number): Promise<CoordinationDb[]> {
  const dbs: CoordinationDb[] = [];
  try {
    for (let i = 0; i < n; i++) dbs.push(await connectCoordinationDb(endpoint));
  } catch (error) {
    await Promise.all(dbs.map((d) => d.close()));
    throw error;
  }
  return dbs;
}

/** Runs one round: every session starts runOperation at the same moment (same event-loop turn). */
export async function runRound(
  dbs: readonly CoordinationDb[],
  prefix: string,
  options: Partial<Omit<RunOperationOptions, 'db' | 'participant'>> & { targ?: string } = {},
): Promise<InProcessRound> {
  const targ = options.targ ?? '127.0.0.1:3307';
  const switched = new Map<string, string>();
  const reports = await Promise.all(
    dbs.map((db, i) =>
      runOperation({
        db,
        participant: `${prefix}${i}`,
        op: 'fail',
        // Generous lease and time-out: these rounds test the protocol, not the clock; a loaded 2-core CI
        // machine can stall a process for seconds. The crash tests use short leases on purpose.
        leaseMs: 5000,
        followerTimeoutMs: 30_000,
        pollMs: 50,
        asMaster: async (ctx) => {
          await ctx.writeTarg(targ);
          // The master's work lasts until every other participant has joined and switched (at most
          // 60 s): on a loaded machine a participant scheduled late would otherwise arrive after the
          // operation ended and rightly report 'finished-elsewhere', which is not what rounds test.
          const until = Date.now() + 60_000;
          while (switched.size < dbs.length - 1 && Date.now() < until) {
            await new Promise((r) => setTimeout(r, 20));
          }
        },
        asFollower: async (t) => {
          switched.set(`${prefix}${i}`, t);
        },
        ...options,
      }),
    ),
  );
  return { reports, switched, targ };
}
