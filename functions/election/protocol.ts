/**
 * The seed's ongoing_failover.status protocol, made crash-safe. The decisions are in rules.ts; this
 * file performs them against the coordination server and reads the tables again after every write.
 *
 * Races are settled only by the database: a claim is a conditional UPDATE whose affectedRows says who
 * won; every signal is an INSERT ... SELECT FROM operation WHERE epoch = ?, so a writer from an old
 * epoch (or of a removed operation) inserts nothing; time is NOW(6) on the server, never our clock.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { DbError, ElectionError, errorMessage, WatchdogError } from '../errors.js';
import type { CoordinationDb } from './db.js';
import {
  decide,
  epochSignals,
  type FollowerProgress,
  firstSignal,
  followerProgress,
  type Joined,
  type OperationRow,
  type SignalRow,
  type View,
} from './rules.js';
import {
  MAX_VALUE_LENGTH,
  OPERATIONS,
  type OperationKind,
  SCHEMA_STATEMENTS,
  type SignalName,
  TABLES,
} from './schema.js';

export type Role = 'master' | 'follower' | 'observer';

export type Outcome =
  /** master: own work done, every follower wrote FOOK, operation removed */
  | 'completed'
  /** master: operation removed after the follower time-out; `followers.timedOut` names them */
  | 'completed-with-timeouts'
  /** follower: switched to TARG (if any) and wrote FOOK */
  | 'followed'
  /** the operation this participant joined was removed by its master before we had a part in it */
  | 'finished-elsewhere'
  /** master: another participant took over (our lease expired); we stopped */
  | 'lost-lease'
  /** master: asMaster threw; the operation was removed so nobody waits for it */
  | 'master-failed'
  /** follower: asFollower threw (its routers did not switch); no FOOK, the master times it out */
  | 'follower-failed'
  /** the caller's AbortSignal fired (deadline); a master hands its lease back first */
  | 'aborted'
  /** the coordination server stopped answering */
  | 'coordination-lost';

export interface SignalLogEntry {
  epoch: number;
  signal: SignalName;
  value: string;
  participant: string;
  /** Server clock: ms since the operation's first SCAN. */
  msSinceFirstScan: number;
  /** Server clock: created_at, ms since 1970. */
  atMs: number;
}

export interface MasterContext {
  participant: string;
  op: OperationKind;
  epoch: number;
  openedEpoch: number;
  /** Aborted when the lease is lost, the coordination server is gone, or the caller aborts. */
  signal: AbortSignal;
  /** Set when this participant was already master of this epoch (invoked again after a crash). */
  resumed: { targ: string | null } | null;
  /** Set when this epoch took over a crashed master's epoch of the same operation. */
  inherited: { epoch: number; master: string | null; targ: string | null } | null;
  /** Writes TARG host:port (before routers move). Throws ElectionError when the lease is lost. */
  writeTarg(hostPort: string): Promise<void>;
  /** Renews the lease now (it is also renewed in the background every leaseMs / 3). */
  renewLease(): Promise<void>;
}

export interface RunOperationOptions {
  db: CoordinationDb;
  participant: string;
  op: OperationKind;
  /** How long the master's lease lasts without renewal (server clock). */
  leaseMs: number;
  /** How long the master waits, after MAOK, for followers that have not written FOOK. */
  followerTimeoutMs: number;
  /** Poll interval while waiting for other participants. */
  pollMs?: number;
  signal?: AbortSignal;
  /** Called after every signal this participant wrote (structured log line). */
  onSignal?: (entry: SignalLogEntry) => void;
  /** The operation master's work. It must be idempotent: a takeover runs it again. */
  asMaster: (ctx: MasterContext) => Promise<void>;
  /** A follower's work once TARG is known: switch this participant's own routers to `targ`. */
  asFollower: (targ: string, info: { epoch: number; master: string }) => Promise<void>;
  /**
   * Local wall clock, used only to stamp the report. Never used for a decision: leases, time-outs and
   * the order of signals come from the server, so a participant whose clock is hours off behaves the same.
   */
  now?: () => number;
  /**
   * After FOOK, stay until the master removes the operation (default true). A follower that stays
   * takes over when the master dies before removing it, so a crash after TARG or MAOK is finished by
   * the participants already running instead of waiting for the next scheduled invocation.
   */
  waitForRemoval?: boolean;
}

export interface OperationReport {
  participant: string;
  role: Role;
  outcome: Outcome;
  op: OperationKind | null;
  epoch: number | null;
  openedEpoch: number | null;
  master: string | null;
  target: string | null;
  signals: SignalLogEntry[];
  followers?: Pick<FollowerProgress, 'followers' | 'done' | 'timedOut'>;
  /** Epochs this participant opened by taking over an expired lease. */
  tookOver: number[];
  startedAt: string;
  timings: {
    /** Local monotonic ms from the start of the call until the role was known. */
    roleKnownMs: number | null;
    /** Local monotonic ms for the whole call. */
    totalMs: number;
    /** Master only, server clock: the operation's first SCAN to its removal. */
    firstScanToRemovalMs: number | null;
  };
  error?: Record<string, unknown>;
}

const PARTICIPANT_RE = /^[A-Za-z0-9_.:@/+-]+$/;

/** Sessions that have seen the schema: information_schema is not cheap with 50 participants polling. */
const schemaReady = new WeakSet<CoordinationDb>();

/**
 * Creates the coordination schema if it is missing, and returns NOW(6): the call's start by the
 * server clock. Checked once per session (50 participants start at once).
 */
export async function ensureSchema(db: CoordinationDb): Promise<{ dbNowMs: number }> {
  if (schemaReady.has(db)) {
    const [row] = await db.query<{ now_s: string }>('SELECT UNIX_TIMESTAMP(NOW(6)) AS now_s');
    return { dbNowMs: secondsToMs(row?.now_s ?? 0) };
  }
  const rows = await db.query<{ n: number; now_s: string }>(
    "SELECT UNIX_TIMESTAMP(NOW(6)) AS now_s, COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'ongoing_failover'" +
      " AND table_name IN ('operation', 'status', 'history')",
  );
  const dbNowMs = secondsToMs(rows[0]?.now_s ?? 0);
  if (Number(rows[0]?.n) !== 3) for (const statement of SCHEMA_STATEMENTS) await db.execute(statement);
  schemaReady.add(db);
  return { dbNowMs };
}

interface OperationDbRow {
  now_s: string;
  epoch: number | null;
  opened_epoch: number | null;
  op: string | null;
  master: string | null;
  opened_by: string | null;
  expired: number | null;
  remaining_us: number | string | null;
}

interface SignalDbRow {
  id: number;
  epoch: number;
  sig: SignalName;
  value: string;
  participant: string;
  at_s: string;
}

/** Seconds with microseconds (a DECIMAL string from UNIX_TIMESTAMP) to ms, without float drift beyond µs. */
function secondsToMs(value: string | number): number {
  return Math.round(Number(value) * 1_000_000) / 1000;
}

/**
 * Reads the operation row and the signals of its epochs (server clock for every time). With `onlyFor`,
 * only the rows that participant's decisions need (its own, the first SCAN of each epoch, TARG, MAST
 * and MAOK): 49 polling followers then read a handful of rows each instead of every signal.
 */
export async function readView(db: CoordinationDb, onlyFor?: string): Promise<View> {
  const [row] = await db.query<OperationDbRow>(
    `SELECT UNIX_TIMESTAMP(NOW(6)) AS now_s, o.epoch, o.opened_epoch, o.op, o.master, o.opened_by,
            o.lease_until < NOW(6) AS expired, TIMESTAMPDIFF(MICROSECOND, NOW(6), o.lease_until) AS remaining_us
       FROM (SELECT 1 AS one) AS d LEFT JOIN ${TABLES.operation} AS o ON o.id = 1`,
  );
  if (!row) throw new DbError('the coordination server returned no row for NOW(6)');
  const dbNowMs = secondsToMs(row.now_s);
  if (row.epoch === null || row.opened_epoch === null) return { operation: null, signals: [], dbNowMs };
  const operation: OperationRow = {
    epoch: Number(row.epoch),
    openedEpoch: Number(row.opened_epoch),
    op: (OPERATIONS as readonly string[]).includes(row.op ?? '') ? (row.op as OperationKind) : 'fail',
    master: row.master,
    openedBy: row.opened_by ?? '',
    leaseExpired: Number(row.expired) === 1,
    leaseRemainingMs: Number(row.remaining_us) / 1000,
  };
  const signals = await readSignals(db, operation.openedEpoch, onlyFor);
  return { operation, signals, dbNowMs };
}

async function readSignals(db: CoordinationDb, fromEpoch: number, onlyFor?: string): Promise<SignalRow[]> {
  const rows = await db.query<SignalDbRow>(
    onlyFor === undefined
      ? `SELECT id, epoch, sig, value, participant, UNIX_TIMESTAMP(created_at) AS at_s
           FROM ${TABLES.status} WHERE epoch >= ? ORDER BY id`
      : `SELECT id, epoch, sig, value, participant, UNIX_TIMESTAMP(created_at) AS at_s
           FROM ${TABLES.status}
          WHERE epoch >= ?
            AND (participant = ? OR sig IN ('MAST', 'TARG', 'MAOK')
                 OR id IN (SELECT MIN(id) FROM ${TABLES.status} WHERE epoch >= ? AND sig = 'SCAN' GROUP BY epoch))
          ORDER BY id`,
    onlyFor === undefined ? [fromEpoch] : [fromEpoch, onlyFor, fromEpoch],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    epoch: Number(r.epoch),
    sig: r.sig,
    value: r.value,
    participant: r.participant,
    atMs: secondsToMs(r.at_s),
  }));
}

/**
 * Inserts one signal row, conditional on `epoch` being the operation's current epoch (and, for master
 * signals, on `participant` being its master). A late writer from an old epoch, or of an operation
 * that was removed, inserts nothing: that is how stale writes are ignored at the source.
 */
export async function insertSignal(
  db: CoordinationDb,
  row: { epoch: number; sig: SignalName; value: string; participant: string; asMaster: boolean },
): Promise<{ written: boolean; insertId: number }> {
  if (row.value.length > MAX_VALUE_LENGTH) {
    throw new ElectionError(`${row.sig} value too long`, { details: { value: row.value } });
  }
  const { affectedRows, insertId } = await db.execute(
    `INSERT INTO ${TABLES.status} (epoch, sig, value, participant, created_at)
     SELECT epoch, ?, ?, ?, NOW(6) FROM ${TABLES.operation}
      WHERE id = 1 AND epoch = ?${row.asMaster ? ' AND master = ?' : ''}`,
    row.asMaster
      ? [row.sig, row.value, row.participant, row.epoch, row.participant]
      : [row.sig, row.value, row.participant, row.epoch],
  );
  return { written: affectedRows === 1, insertId };
}

function isDeadlock(error: unknown): boolean {
  const errno = error instanceof WatchdogError ? error.details.errno : undefined;
  return errno === 1213 || errno === 1205;
}

/**
 * Runs one operation as whichever role the database gives this participant. Returns a report; throws
 * only for invalid arguments (a lost coordination server or a lost lease is an outcome, not a throw).
 */
export async function runOperation(options: RunOperationOptions): Promise<OperationReport> {
  const { db, participant, op, leaseMs, followerTimeoutMs } = options;
  const pollMs = options.pollMs ?? 100;
  if (!PARTICIPANT_RE.test(participant) || participant.length > MAX_VALUE_LENGTH) {
    throw new ElectionError(`invalid participant id ${JSON.stringify(participant)}`, {
      details: { participant },
    });
  }
  if (!OPERATIONS.includes(op)) throw new ElectionError(`unknown operation ${op}`, { details: { op } });
  if (!(leaseMs >= 100) || !(followerTimeoutMs >= 0) || !(pollMs >= 1)) {
    throw new ElectionError('leaseMs >= 100, followerTimeoutMs >= 0 and pollMs >= 1 are required', {
      details: { leaseMs, followerTimeoutMs, pollMs },
    });
  }
  const leaseUs = Math.round(leaseMs * 1000);
  const lingerPollMs = Math.max(pollMs, Math.min(leaseMs / 4, pollMs * 10));
  const t0 = performance.now();
  const report: OperationReport = {
    participant,
    role: 'observer',
    outcome: 'finished-elsewhere',
    op: null,
    epoch: null,
    openedEpoch: null,
    master: null,
    target: null,
    signals: [],
    tookOver: [],
    startedAt: new Date((options.now ?? Date.now)()).toISOString(),
    timings: { roleKnownMs: null, totalMs: 0, firstScanToRemovalMs: null },
  };
  const roleKnown = (role: Role) => {
    report.role = role;
    if (report.timings.roleKnownMs === null) report.timings.roleKnownMs = performance.now() - t0;
  };
  const finish = (outcome: Outcome, error?: unknown): OperationReport => {
    report.outcome = outcome;
    if (error !== undefined) {
      report.error =
        error instanceof WatchdogError ? error.toJSON() : { error: 'Error', message: errorMessage(error) };
    }
    report.timings.totalMs = performance.now() - t0;
    return report;
  };

  /** Inserts one signal, conditional on the epoch (and on being its master for master signals). */
  const writeSignal = async (
    epoch: number,
    openedEpoch: number,
    sig: SignalName,
    value: string,
    asMasterOf = false,
  ): Promise<boolean> => {
    const { written, insertId } = await insertSignal(db, {
      epoch,
      sig,
      value,
      participant,
      asMaster: asMasterOf,
    });
    if (!written) return false;
    const [row] = await db.query<{ at_s: string; first_s: string | null }>(
      `SELECT UNIX_TIMESTAMP(created_at) AS at_s,
              (SELECT UNIX_TIMESTAMP(MIN(created_at)) FROM ${TABLES.status}
                WHERE sig = 'SCAN' AND epoch BETWEEN ? AND ?) AS first_s
         FROM ${TABLES.status} WHERE id = ?`,
      [openedEpoch, epoch, insertId],
    );
    const atMs = row ? secondsToMs(row.at_s) : 0;
    const firstMs = row?.first_s ? secondsToMs(row.first_s) : atMs;
    const entry: SignalLogEntry = {
      epoch,
      signal: sig,
      value,
      participant,
      msSinceFirstScan: Math.max(0, Math.round((atMs - firstMs) * 1000) / 1000),
      atMs,
    };
    report.signals.push(entry);
    options.onSignal?.(entry);
    return true;
  };

  let joined: Joined | null = null;
  let switchedTo: string | null = null;
  let fookedEpoch: number | null = null;
  try {
    // The call's start by the server clock: an operation removed after it is the one we came for.
    const { dbNowMs: calledAtDbMs } = await ensureSchema(db);
    for (;;) {
      if (options.signal?.aborted) return finish('aborted');
      const view = await readView(db, participant);
      const step = decide(view, participant, joined);
      const operation = view.operation;
      if (operation) {
        report.op = operation.op;
        report.epoch = operation.epoch;
        report.openedEpoch = operation.openedEpoch;
        report.master = operation.master;
      }
      switch (step.kind) {
        case 'finished':
          // Removed after our FOOK: a normal end. Removed before it: we were timed out, or came too late.
          return finish(fookedEpoch !== null ? 'followed' : 'finished-elsewhere');
        case 'open': {
          // An operation removed after this call started answered the same need (we were too slow
          // to join it): report it; the caller observes again instead of starting a second round.
          const [last] = await db.query<{ closed_s: string | null }>(
            `SELECT UNIX_TIMESTAMP(MAX(closed_at)) AS closed_s FROM ${TABLES.history}`,
          );
          if (last?.closed_s && secondsToMs(last.closed_s) >= calledAtDbMs)
            return finish('finished-elsewhere');
          // Claim with an insert: the primary key (id = 1) lets exactly one participant open it.
          await db.execute(
            `INSERT IGNORE INTO ${TABLES.operation}
               (id, epoch, opened_epoch, op, master, opened_by, opened_at, epoch_at, lease_until)
             SELECT 1, e.next, e.next, ?, NULL, ?, NOW(6), NOW(6), NOW(6) + INTERVAL ? MICROSECOND
               FROM (SELECT GREATEST(COALESCE((SELECT MAX(epoch) FROM ${TABLES.history}), 0),
                                     COALESCE((SELECT MAX(epoch) FROM ${TABLES.status}), 0)) + 1 AS next) AS e`,
            [op, participant, leaseUs],
          );
          continue; // whoever won, the next read shows the operation to join
        }
        case 'takeover': {
          // Take over a stale leader with a conditional UPDATE: one participant matches the row.
          const { affectedRows } = await db.execute(
            `UPDATE ${TABLES.operation}
                SET epoch = epoch + 1, master = NULL, epoch_at = NOW(6), lease_until = NOW(6) + INTERVAL ? MICROSECOND
              WHERE id = 1 AND epoch = ? AND lease_until < NOW(6)`,
            [leaseUs, step.epoch],
          );
          if (affectedRows === 1) report.tookOver.push(step.epoch + 1);
          continue;
        }
        case 'scan': {
          if (!operation) continue;
          joined ??= { openedEpoch: operation.openedEpoch };
          await writeSignal(step.epoch, operation.openedEpoch, 'SCAN', participant);
          continue;
        }
        case 'claim': {
          const { affectedRows } = await db.execute(
            `UPDATE ${TABLES.operation} SET master = ?, lease_until = NOW(6) + INTERVAL ? MICROSECOND
              WHERE id = 1 AND epoch = ? AND master IS NULL AND lease_until >= NOW(6)
                AND (SELECT MIN(id) FROM ${TABLES.status} WHERE epoch = ? AND sig = 'SCAN') = ?`,
            [participant, leaseUs, step.epoch, step.epoch, step.scanId],
          );
          if (affectedRows !== 1) continue;
          continue; // the next read says master === me
        }
        case 'wait-master':
          await sleep(pollMs, undefined, { signal: options.signal }).catch(() => {});
          continue;
        case 'folo': {
          if (!operation) continue;
          roleKnown('follower');
          joined ??= { openedEpoch: operation.openedEpoch };
          await writeSignal(step.epoch, operation.openedEpoch, 'FOLO', participant);
          continue;
        }
        case 'follow': {
          if (!operation?.master) continue;
          roleKnown('follower');
          joined ??= { openedEpoch: operation.openedEpoch };
          if (step.targ !== null) {
            if (switchedTo !== step.targ) {
              try {
                await options.asFollower(step.targ, { epoch: step.epoch, master: operation.master });
              } catch (error) {
                // No FOOK: the master times this follower out and names it in its report.
                report.target = step.targ;
                return finish('follower-failed', error);
              }
              switchedTo = step.targ;
            }
            report.target = step.targ;
          } else if (!step.masterDone) {
            await sleep(pollMs, undefined, { signal: options.signal }).catch(() => {});
            continue;
          }
          // TARG handled (or the master finished without one: nothing to switch).
          // The master may remove the operation right after this FOOK, before we read again.
          if (await writeSignal(step.epoch, operation.openedEpoch, 'FOOK', participant))
            fookedEpoch = step.epoch;
          continue;
        }
        case 'follower-done':
          roleKnown('follower');
          report.target ??= switchedTo;
          fookedEpoch = step.epoch;
          if (options.waitForRemoval === false) return finish('followed');
          // Stay until the master removes the operation; if its lease expires first, decide() says takeover.
          // Nothing here is urgent (the lease is), so poll slower and leave the server to the master.
          await sleep(lingerPollMs, undefined, { signal: options.signal }).catch(() => {});
          continue;
        case 'master': {
          if (!operation) continue;
          joined ??= { openedEpoch: operation.openedEpoch };
          roleKnown('master');
          return await runAsMaster(operation, view);
        }
      }
    }
  } catch (error) {
    if (error instanceof DbError) {
      // Schema or table dropped under us (1049, 1146): check again on the next call of this session.
      if (error.details.errno === 1049 || error.details.errno === 1146) schemaReady.delete(db);
      // A follower that already wrote FOOK has done its part; the leftover is the next invocation's.
      return finish(fookedEpoch !== null ? 'followed' : 'coordination-lost', error);
    }
    throw error;
  }

  async function runAsMaster(operation: OperationRow, view: View): Promise<OperationReport> {
    const epoch = operation.epoch;
    const openedEpoch = operation.openedEpoch;
    const lost = new AbortController();
    let lostReason: 'lost-lease' | 'coordination-lost' | 'aborted' | null = null;
    let lostError: unknown;
    const loseWith = (reason: 'lost-lease' | 'coordination-lost' | 'aborted', error?: unknown) => {
      if (lostReason) return;
      lostReason = reason;
      lostError = error;
      lost.abort(
        new ElectionError(`operation master ${participant} stopped: ${reason}`, { details: { epoch } }),
      );
    };
    const onCallerAbort = () => loseWith('aborted');
    options.signal?.addEventListener('abort', onCallerAbort, { once: true });

    const renew = async (): Promise<void> => {
      if (lostReason) throw lost.signal.reason;
      try {
        const { affectedRows } = await db.execute(
          `UPDATE ${TABLES.operation} SET lease_until = NOW(6) + INTERVAL ? MICROSECOND
            WHERE id = 1 AND epoch = ? AND master = ?`,
          [leaseUs, epoch, participant],
        );
        if (affectedRows !== 1) loseWith('lost-lease');
      } catch (error) {
        loseWith('coordination-lost', error);
      }
      if (lostReason) throw lost.signal.reason;
    };
    const masterSignal = async (sig: SignalName, value: string) => {
      let ok = false;
      try {
        ok = await writeSignal(epoch, openedEpoch, sig, value, true);
      } catch (error) {
        loseWith('coordination-lost', error);
      }
      if (!ok) loseWith('lost-lease');
      if (lostReason) throw lost.signal.reason;
    };

    let renewing: Promise<void> = Promise.resolve();
    const timer = setInterval(
      () => {
        renewing = renewing.then(() => renew().catch(() => {}));
      },
      Math.max(10, Math.floor(leaseMs / 3)),
    );
    const stop = async () => {
      clearInterval(timer);
      options.signal?.removeEventListener('abort', onCallerAbort);
      await renewing;
    };

    try {
      await renew();
      const mine = epochSignals(view.signals, epoch);
      const resumedBefore = firstSignal(mine, 'MAST', participant) !== undefined;
      if (!resumedBefore) await masterSignal('MAST', participant);
      if (!firstSignal(mine, 'OPER', participant)) await masterSignal('OPER', operation.op);
      const ownTarg = firstSignal(mine, 'TARG', participant);
      const previous = [...view.signals].filter((s) => s.epoch < epoch && s.epoch >= openedEpoch);
      const previousEpoch = previous.length > 0 ? Math.max(...previous.map((s) => s.epoch)) : null;
      const previousSignals = previousEpoch === null ? [] : epochSignals(previous, previousEpoch);
      const previousMaster = firstSignal(previousSignals, 'MAST')?.participant ?? null;
      const ctx: MasterContext = {
        participant,
        op: operation.op,
        epoch,
        openedEpoch,
        signal: lost.signal,
        resumed: resumedBefore ? { targ: ownTarg?.value ?? null } : null,
        inherited:
          previousEpoch === null
            ? null
            : {
                epoch: previousEpoch,
                master: previousMaster,
                targ:
                  (previousMaster
                    ? firstSignal(previousSignals, 'TARG', previousMaster)?.value
                    : undefined) ?? null,
              },
        writeTarg: async (hostPort: string) => {
          await masterSignal('TARG', hostPort);
          report.target = hostPort;
        },
        renewLease: renew,
      };
      if (ownTarg) report.target = ownTarg.value;
      try {
        await options.asMaster(ctx);
      } catch (error) {
        if (lostReason) throw error;
        // The work failed: remove the operation so followers stop waiting; the report carries the cause.
        await stop();
        const closed = await closeOperation(epoch, openedEpoch, 'master-failed');
        report.timings.firstScanToRemovalMs = closed;
        return finish('master-failed', error);
      }
      if (lostReason) throw lost.signal.reason;
      if (!firstSignal(mine, 'MAOK', participant)) await masterSignal('MAOK', participant);

      let progress: FollowerProgress;
      for (;;) {
        if (lostReason) throw lost.signal.reason;
        const current = await readView(db);
        if (current.operation?.epoch !== epoch || current.operation.master !== participant) {
          loseWith('lost-lease');
          throw lost.signal.reason;
        }
        progress = followerProgress(current.signals, epoch, participant, current.dbNowMs, followerTimeoutMs);
        if (progress.complete) break;
        await sleep(pollMs, undefined, { signal: lost.signal }).catch(() => {});
      }
      await stop();
      const outcome = progress.timedOut.length > 0 ? 'completed-with-timeouts' : 'completed';
      report.timings.firstScanToRemovalMs = await closeOperation(epoch, openedEpoch, outcome);
      report.followers = { followers: progress.followers, done: progress.done, timedOut: progress.timedOut };
      return finish(outcome);
    } catch (error) {
      await stop();
      if (lostReason === 'aborted') {
        // Hand the lease back so the next invocation takes over at once instead of after the lease.
        await db
          .execute(
            `UPDATE ${TABLES.operation} SET lease_until = NOW(6) WHERE id = 1 AND epoch = ? AND master = ?`,
            [epoch, participant],
          )
          .catch(() => {});
        return finish('aborted');
      }
      if (lostReason) return finish(lostReason, lostError ?? error);
      if (error instanceof DbError) return finish('coordination-lost', error);
      throw error;
    }
  }

  /**
   * Removes the operation in one transaction: its signals move to `history` (the audit survives),
   * then the operation row goes. Conditional on still being master of the epoch. Returns the time from
   * the first SCAN to the removal, server clock.
   */
  async function closeOperation(epoch: number, openedEpoch: number, outcome: string): Promise<number | null> {
    for (let attempt = 1; ; attempt++) {
      try {
        await db.execute('START TRANSACTION');
        const held = await db.query(
          `SELECT epoch FROM ${TABLES.operation} WHERE id = 1 AND epoch = ? AND master = ? FOR UPDATE`,
          [epoch, participant],
        );
        if (held.length !== 1) {
          await db.execute('ROLLBACK');
          throw new ElectionError('lost the operation before removing it', { details: { epoch } });
        }
        await db.execute(
          `INSERT INTO ${TABLES.history}
             (id, epoch, opened_epoch, sig, value, participant, created_at, closed_at, closed_by, outcome)
           SELECT id, epoch, ?, sig, value, participant, created_at, NOW(6), ?, ?
             FROM ${TABLES.status} WHERE epoch <= ?`,
          [openedEpoch, participant, outcome, epoch],
        );
        await db.execute(`DELETE FROM ${TABLES.status} WHERE epoch <= ?`, [epoch]);
        await db.execute(`DELETE FROM ${TABLES.operation} WHERE id = 1 AND epoch = ? AND master = ?`, [
          epoch,
          participant,
        ]);
        await db.execute('COMMIT');
        break;
      } catch (error) {
        await db.execute('ROLLBACK').catch(() => {});
        if (attempt < 5 && isDeadlock(error)) continue;
        throw error;
      }
    }
    const [row] = await db.query<{ ms: string | null }>(
      `SELECT (UNIX_TIMESTAMP(MAX(closed_at)) - UNIX_TIMESTAMP(MIN(CASE WHEN sig = 'SCAN' THEN created_at END))) * 1000 AS ms
         FROM ${TABLES.history} WHERE opened_epoch = ? AND epoch >= ? AND closed_by = ?`,
      [openedEpoch, openedEpoch, participant],
    );
    return row?.ms === null || row?.ms === undefined ? null : Math.round(Number(row.ms) * 1000) / 1000;
  }
}
