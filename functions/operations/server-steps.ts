/**
 * State changes on one server: fence, promote, stop/reset/start replication, catch up. Each one reads
 * the state back after changing it and throws StateChangeRefusedError when the server did not take it:
 * a step is only reported done when the server says so.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { tryParseGtidSet } from '../core/gtid.js';
import type { ReplicationStatus } from '../core/snapshot.js';
import { StateChangeRefusedError } from '../errors.js';
import { type Row, type ServerAdmin, str } from './admin.js';

export interface StepResult {
  /** What was found and done, for the audit (one line). */
  detail: string;
  /** Structured facts for the JSON audit record. */
  data?: Record<string, unknown>;
  /** 'skipped' when nothing needed doing (already in the wanted state, or not applicable). */
  outcome?: 'done' | 'skipped';
}

export async function readReadOnly(
  admin: ServerAdmin,
): Promise<{ readOnly: boolean; superReadOnly: boolean | null }> {
  const [r] = await admin.query<Row>(admin.flavor.readOnlyQuery());
  return {
    readOnly: Number(r?.read_only) === 1,
    superReadOnly:
      r?.super_read_only === null || r?.super_read_only === undefined
        ? null
        : Number(r.super_read_only) === 1,
  };
}

export async function replicaStatus(admin: ServerAdmin): Promise<ReplicationStatus | null> {
  const rows = await admin.query<Row>(admin.flavor.showReplicaStatus());
  let slavePos: string | null = null;
  if (admin.flavor.isMariadb) {
    const [g] = await admin.query<Row>('SELECT @@global.gtid_slave_pos AS p');
    slavePos = str(g?.p);
  }
  return admin.flavor.normalizeReplicaStatus(rows, slavePos);
}

export interface FenceOptions {
  /**
   * Keep the server writable for the watchdog (plain read_only, no super_read_only): it holds the
   * election and journal rows, which MySQL's super_read_only would refuse. The caller raises
   * super_read_only after the operation's last write there (raiseSuperReadOnly).
   */
  watchdogWritable?: boolean;
  /** How long SET GLOBAL read_only may wait for other sessions' metadata locks (default 5 s). */
  lockWaitSeconds?: number;
}

const ER_LOCK_WAIT_TIMEOUT = 1205;

/**
 * Fences a server: read-only (super_read_only where the flavor has it, unless the watchdog must still
 * write there), then ends the other client sessions so that no transaction opened before the fence
 * commits afterwards (accounts with READ_ONLY ADMIN / SUPER / CONNECTION_ADMIN write through read_only;
 * killing their sessions is the only guard). Setting read_only waits for open transactions' metadata
 * locks: the wait is bounded, and when one long statement holds it, the sessions are ended first and
 * the fence tried again.
 */
export async function fence(
  admin: ServerAdmin,
  /** Accounts whose sessions stay: the watchdog's own (the election may live on this server). */
  keepUsers: readonly string[] = [],
  options: FenceOptions = {},
): Promise<StepResult> {
  const before = await readReadOnly(admin);
  const statements = options.watchdogWritable
    ? admin.flavor.setReadOnlyWatchdogWritable()
    : admin.flavor.setReadOnly(true);
  await admin.run(admin.flavor.boundLockWait(options.lockWaitSeconds ?? 5));
  let killed = 0;
  try {
    for (const sql of statements) await admin.run(sql);
  } catch (error) {
    if (errnoOf(error) !== ER_LOCK_WAIT_TIMEOUT) throw error;
    killed += await endOtherSessions(admin, keepUsers);
    for (const sql of statements) await admin.run(sql);
  }
  const after = await readReadOnly(admin);
  const wanted =
    admin.flavor.hasSuperReadOnly && !options.watchdogWritable
      ? after.superReadOnly === true
      : after.readOnly;
  if (!wanted) {
    throw new StateChangeRefusedError(`${admin.id}: read-only did not take effect`, {
      details: { server: admin.id, after },
    });
  }
  killed += await endOtherSessions(admin, keepUsers);
  const deferred =
    options.watchdogWritable && admin.flavor.hasSuperReadOnly
      ? " (super_read_only after the operation's last write: the election lives here)"
      : '';
  return {
    detail: `${admin.id} read_only=ON${after.superReadOnly ? ', super_read_only=ON' : ''}${deferred} (was ${before.readOnly ? 'ON' : 'OFF'}); ${killed} client session(s) ended`,
    data: { before, after, killedSessions: killed },
  };
}

/** The server's error number of a failed statement (ServerAdmin wraps it in a DbError). */
function errnoOf(error: unknown): number | undefined {
  const e = error as { errno?: number; details?: { errno?: number } };
  return e.errno ?? e.details?.errno;
}

/** Ends every client session but this one, replication's and the kept accounts'; returns how many. */
async function endOtherSessions(admin: ServerAdmin, keepUsers: readonly string[]): Promise<number> {
  const sessions = await admin.query<Row>(
    "SELECT ID AS id, USER AS user, COMMAND AS command FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND USER NOT IN ('system user', 'event_scheduler', '') AND COMMAND NOT IN ('Binlog Dump', 'Binlog Dump GTID', 'Daemon')",
  );
  let killed = 0;
  for (const s of sessions.filter((x) => !keepUsers.includes(str(x.user)))) {
    try {
      await admin.run({ sql: 'KILL CONNECTION ?', values: [Number(s.id)] });
      killed++;
    } catch {
      // the session ended by itself meanwhile
    }
  }
  return killed;
}

/**
 * MySQL: while `read_only` is ON and `super_read_only` OFF, sets super_read_only (the end of a
 * watchdog-writable window). Returns what it did, or null when there was nothing to do (MariaDB, a
 * writable server, or super_read_only already ON).
 */
export async function raiseSuperReadOnly(admin: ServerAdmin): Promise<string | null> {
  if (!admin.flavor.hasSuperReadOnly) return null;
  const now = await readReadOnly(admin);
  if (!now.readOnly || now.superReadOnly) return null;
  await admin.run(admin.flavor.boundLockWait(5));
  await admin.run('SET GLOBAL super_read_only = ON');
  const after = await readReadOnly(admin);
  if (!after.superReadOnly) {
    throw new StateChangeRefusedError(`${admin.id}: super_read_only did not take effect`, {
      details: { server: admin.id, after },
    });
  }
  return `${admin.id} super_read_only=ON`;
}

/**
 * MySQL: lowers `super_read_only` to plain `read_only` so that the watchdog can write (the caller puts
 * it back with raiseSuperReadOnly). Returns true when it lowered it.
 */
export async function lowerSuperReadOnly(admin: ServerAdmin): Promise<boolean> {
  if (!admin.flavor.hasSuperReadOnly) return false;
  const now = await readReadOnly(admin);
  if (!now.superReadOnly) return false;
  for (const sql of admin.flavor.setReadOnlyWatchdogWritable()) await admin.run(sql);
  const after = await readReadOnly(admin);
  if (after.superReadOnly || !after.readOnly) {
    throw new StateChangeRefusedError(`${admin.id}: could not lower super_read_only to read_only`, {
      details: { server: admin.id, after },
    });
  }
  return true;
}

/** Makes a server writable and checks it took effect. */
export async function promote(admin: ServerAdmin): Promise<StepResult> {
  const before = await readReadOnly(admin);
  for (const sql of admin.flavor.setReadOnly(false)) await admin.run(sql);
  const after = await readReadOnly(admin);
  if (after.readOnly || after.superReadOnly) {
    throw new StateChangeRefusedError(`${admin.id}: still read-only after SET GLOBAL read_only=OFF`, {
      details: { server: admin.id, after },
    });
  }
  return {
    detail: `${admin.id} writable (read_only was ${before.readOnly ? 'ON' : 'OFF'})`,
    data: { before, after },
  };
}

/**
 * MariaDB's MASTER_GTID_WAIT waits on gtid_slave_pos alone. A server that holds the position as its
 * OWN writes (an old primary that rejoined with current_pos after a switchover: its Gtid_IO_Pos starts
 * at what it wrote itself) would wait for ever; its gtid_current_pos already covers the position.
 */
export async function alreadyApplied(admin: ServerAdmin, position: string): Promise<boolean> {
  if (!admin.flavor.isMariadb) return false;
  const [c] = await admin.query<Row>('SELECT @@global.gtid_current_pos AS pos');
  const current = tryParseGtidSet(str(c?.pos), 'mariadb').set;
  const target = tryParseGtidSet(position, 'mariadb').set;
  return current !== null && target?.isSubsetOf(current) === true;
}

/** Waits until `admin` applied `position` (the flavor's wait, unless it already holds it). */
async function applied(admin: ServerAdmin, position: string, timeoutSeconds: number): Promise<boolean> {
  if (await alreadyApplied(admin, position)) return true;
  const wait = admin.flavor.waitForGtid(position, timeoutSeconds);
  const [r] = await admin.query<Row>(wait.sql, wait.values);
  return admin.flavor.gtidWaitSucceeded(r?.result);
}

/**
 * Lets the applier finish what the IO thread already received before replication is stopped, so that
 * events the old primary had sent are not lost. A stopped or failed applier cannot catch up: what it
 * did not apply stays on the old primary and is salvaged there.
 */
export async function catchUp(
  admin: ServerAdmin,
  timeoutSeconds: number,
  /**
   * A planned switchover: the fenced old primary is alive, so wait for everything it wrote (its
   * gtid position) rather than for what happens to have arrived; nothing acknowledged is left behind.
   */
  sourcePosition?: string,
): Promise<StepResult> {
  if (sourcePosition !== undefined) {
    if (!(await applied(admin, sourcePosition, timeoutSeconds))) {
      throw new StateChangeRefusedError(
        `${admin.id}: did not apply the old primary's ${sourcePosition} within ${timeoutSeconds}s`,
        { details: { server: admin.id, sourcePosition } },
      );
    }
    await admin.run(admin.flavor.stopReplicaIoThread());
    return {
      detail: `${admin.id} applied everything the fenced old primary wrote (${sourcePosition})`,
      data: { sourcePosition },
    };
  }
  const status = await replicaStatus(admin);
  if (!status) return { outcome: 'skipped', detail: `${admin.id} is not a replica` };
  if (status.sqlRunning !== 'Yes') {
    return {
      outcome: 'skipped',
      detail: `${admin.id}: applier not running${status.lastSqlErrno ? ` (error ${status.lastSqlErrno}: ${status.lastSqlError})` : ''}; received but unapplied events stay on the old primary and are salvaged there`,
    };
  }
  // No more events from the old source: what it sent is in the relay log.
  await admin.run(admin.flavor.stopReplicaIoThread());
  const received = (await replicaStatus(admin))?.retrievedGtid.raw ?? status.retrievedGtid.raw;
  if (!received) return { detail: `${admin.id}: IO thread stopped; nothing received to wait for` };
  if (!(await applied(admin, received, timeoutSeconds))) {
    throw new StateChangeRefusedError(`${admin.id}: did not apply ${received} within ${timeoutSeconds}s`, {
      details: { server: admin.id, received },
    });
  }
  return { detail: `${admin.id} applied everything received (${received})`, data: { received } };
}

export async function stopReplication(admin: ServerAdmin): Promise<StepResult> {
  const status = await replicaStatus(admin);
  if (!status) return { outcome: 'skipped', detail: `${admin.id} is not a replica` };
  await admin.run(admin.flavor.stopReplica());
  const after = await replicaStatus(admin);
  if (after && (after.ioRunning === 'Yes' || after.sqlRunning === 'Yes')) {
    throw new StateChangeRefusedError(`${admin.id}: replication still running after STOP`, {
      details: { server: admin.id, io: after.ioRunning, sql: after.sqlRunning },
    });
  }
  return { detail: `${admin.id} replication stopped (was IO ${status.ioRunning}, SQL ${status.sqlRunning})` };
}

/**
 * Semi-sync on one server: a primary waits for acknowledgements (and does not acknowledge), a replica
 * acknowledges (and does not wait). Checked by reading the variables back.
 */
export async function setSemiSync(admin: ServerAdmin, role: 'primary' | 'replica'): Promise<StepResult> {
  const on = admin.flavor.semiSyncVariable(role);
  const off = admin.flavor.semiSyncVariable(role === 'primary' ? 'replica' : 'primary');
  await admin.run(`SET GLOBAL ${on} = ON`);
  await admin.run(`SET GLOBAL ${off} = OFF`);
  const [r] = await admin.query<Row>(`SELECT @@global.${on} AS v`);
  if (Number(r?.v) !== 1) {
    throw new StateChangeRefusedError(`${admin.id}: ${on} still OFF after SET GLOBAL`, {
      details: { server: admin.id, variable: on },
    });
  }
  return { detail: `${admin.id}: semi-sync ${role} (${on}=ON, ${off}=OFF)` };
}

export async function resetReplication(admin: ServerAdmin): Promise<StepResult> {
  const status = await replicaStatus(admin);
  if (!status) return { outcome: 'skipped', detail: `${admin.id} has no replication configuration` };
  await admin.run(admin.flavor.stopReplica());
  await admin.run(admin.flavor.resetReplicaAll());
  const after = await replicaStatus(admin);
  if (after) {
    throw new StateChangeRefusedError(`${admin.id}: replication configuration still present after RESET`, {
      details: { server: admin.id },
    });
  }
  return { detail: `${admin.id} forgot its source ${status.sourceHost}:${status.sourcePort}` };
}

export interface StartReplicationInput {
  sourceHost: string;
  sourcePort: number;
  user: string;
  password: string;
  /** MariaDB: slave_pos after a restore; current_pos for a former primary that keeps its own binlog. */
  gtidMode: 'slave_pos' | 'current_pos';
  /** How long to wait for both threads to run. */
  timeoutMs: number;
  /** Replication over TLS, and the source's certificate checked (replicationTls(config.tls)). */
  tls?: { ssl: boolean; verifyServerCert: boolean };
}

/** CHANGE MASTER TO with GTID auto-position, START, and wait until both threads run without error. */
export async function startReplication(
  admin: ServerAdmin,
  input: StartReplicationInput,
): Promise<StepResult> {
  const existing = await replicaStatus(admin);
  if (existing) await admin.run(admin.flavor.stopReplica());
  await admin.run(
    admin.flavor.changeSource({
      host: input.sourceHost,
      port: input.sourcePort,
      user: input.user,
      password: input.password,
      connectRetrySeconds: 1,
      mariadbGtidMode: input.gtidMode,
      ...(input.tls ?? {}),
    }),
  );
  await admin.run(admin.flavor.startReplica());
  const deadline = Date.now() + input.timeoutMs;
  for (;;) {
    const s = await replicaStatus(admin);
    if (s && s.ioRunning === 'Yes' && s.sqlRunning === 'Yes' && s.lastSqlErrno === 0) {
      return {
        detail: `${admin.id} replicates from ${input.sourceHost}:${input.sourcePort} (GTID ${admin.flavor.isMariadb ? input.gtidMode : 'auto-position'})`,
        data: { usingGtid: s.usingGtid },
      };
    }
    if (s && (s.lastSqlErrno !== 0 || (s.lastIoErrno !== 0 && s.ioRunning === 'No'))) {
      throw new StateChangeRefusedError(
        `${admin.id}: replication failed to start: ${s.lastSqlErrno ? `SQL ${s.lastSqlErrno} ${s.lastSqlError}` : `IO ${s.lastIoErrno} ${s.lastIoError}`}`,
        { details: { server: admin.id } },
      );
    }
    if (Date.now() > deadline) {
      throw new StateChangeRefusedError(
        `${admin.id}: replication threads not running after ${input.timeoutMs} ms (IO ${s?.ioRunning}, SQL ${s?.sqlRunning})`,
        { details: { server: admin.id } },
      );
    }
    await sleep(100);
  }
}
