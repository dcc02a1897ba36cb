/**
 * Data consistency between a primary and a replica with CHECKSUM TABLE, exact even under a write load:
 * the primary's user tables are locked for reading (FLUSH TABLES ... WITH READ LOCK, milliseconds on
 * the data sets we verify) while their checksums and the GTID position are read; the replica is then
 * replayed to exactly that position (START SLAVE UNTIL master_gtid_pos; MySQL: SQL_THREAD UNTIL SQL_AFTER_GTIDS) and checksummed there. Without
 * the stop at the position, a replica that applies later writes would differ for no fault of its own.
 * The coordination schema (ongoing_failover) is excluded: its rows never replicate by design.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { tryParseGtidSet } from '../core/gtid.js';
import { COORDINATION_SCHEMA } from '../election/schema.js';
import { StateChangeRefusedError } from '../errors.js';
import { type Row, type ServerAdmin, str } from './admin.js';
import { alreadyApplied, replicaStatus } from './server-steps.js';

const SYSTEM = ['mysql', 'information_schema', 'performance_schema', 'sys', COORDINATION_SCHEMA];

export interface ChecksumComparison {
  tables: number;
  /** `schema.table` whose checksums differ (empty when consistent). */
  differing: Array<{ table: string; primary: string | null; replica: string | null }>;
  /** Tables present on one side only. */
  missing: Array<{ table: string; on: 'primary' | 'replica' }>;
  position: string;
  /**
   * MySQL: the replica's gtid_executed when it was checksummed, and whether it held transactions beyond
   * the position that it did not have when stopped (it ran past the position: the comparison is not
   * exact, and a difference is retried before it is reported).
   */
  replicaPosition?: string;
  ranPast?: boolean;
  consistent: boolean;
}

function q(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

export async function userTables(admin: ServerAdmin): Promise<string[]> {
  const rows = await admin.query<Row>(
    `SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t FROM information_schema.TABLES
      WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN (${SYSTEM.map(() => '?').join(',')})
      ORDER BY TABLE_SCHEMA, TABLE_NAME`,
    SYSTEM,
  );
  return rows.map((r) => `${q(str(r.s))}.${q(str(r.t))}`);
}

export async function checksumTables(
  admin: ServerAdmin,
  tables: string[],
): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>();
  for (let i = 0; i < tables.length; i += 50) {
    const batch = tables.slice(i, i + 50);
    const rows = await admin.query<Row>(`CHECKSUM TABLE ${batch.join(', ')}`);
    batch.forEach((t, j) => {
      const c = rows[j]?.Checksum;
      out.set(t, c === null || c === undefined ? null : str(c));
    });
  }
  return out;
}

/** The replica is stopped, replayed exactly to the primary's locked position (Flavor.startReplicaUntil), compared, restarted. */
export async function compareChecksums(
  primary: ServerAdmin,
  replica: ServerAdmin,
  timeoutSeconds = 30,
  options: { semiSync?: boolean } = {},
): Promise<ChecksumComparison> {
  let result = await compareOnce(primary, replica, timeoutSeconds, options);
  // A difference seen by a replica that ran past the position says nothing: compared again.
  for (let attempt = 2; attempt <= 3 && !result.consistent && result.ranPast; attempt++) {
    result = await compareOnce(primary, replica, timeoutSeconds, options);
  }
  return result;
}

async function executedSet(admin: ServerAdmin): Promise<string> {
  const [g] = await admin.query<Row>(`SELECT @@global.${admin.flavor.executedGtidVariable()} AS pos`);
  // MySQL prints a long gtid_executed with a newline after each comma.
  return str(g?.pos).replace(/\s+/g, '');
}

/** Pure: whether `after` holds transactions beyond `position` that `before` did not (MySQL sets). */
export function ranPastPosition(before: string, after: string, position: string): boolean {
  const parse = (text: string) => tryParseGtidSet(text, 'mysql').set;
  const [b, a, p] = [parse(before), parse(after), parse(position)];
  if (!b || !a || !p) return false;
  return !a.difference(p).difference(b).isEmpty();
}

async function compareOnce(
  primary: ServerAdmin,
  replica: ServerAdmin,
  timeoutSeconds: number,
  options: { semiSync?: boolean },
): Promise<ChecksumComparison> {
  const primaryTables = await userTables(primary);
  const replicaTables = new Set(await userTables(replica));
  const status = await replicaStatus(replica);
  if (!status) throw new StateChangeRefusedError(`${replica.id} is not a replica: nothing to compare`);
  // The replica stops BEFORE the primary's position is read: it is then at or behind that position
  // and can be replayed exactly up to it (stopped after, it could already be past it).
  await replica.run(replica.flavor.stopReplica());
  const stoppedAt = replica.flavor.isMariadb ? '' : await executedSet(replica);
  // Switched back on when it was on, or when the configuration wants semi-sync (`semiSync`): a watchdog
  // stopped between the switch and its undo finds it off, and the next comparison restores it.
  let acknowledges = options.semiSync === true && replica.flavor.isMariadb;
  try {
    acknowledges = (await pauseSemiSyncAcknowledgements(replica)) || acknowledges;
    let position = '';
    let sums = new Map<string, string | null>();
    const readPosition = async () => {
      position = await executedSet(primary);
    };
    if (primaryTables.length > 0) {
      await primary.run(`FLUSH TABLES ${primaryTables.join(', ')} WITH READ LOCK`);
      try {
        await readPosition();
        sums = await checksumTables(primary, primaryTables);
      } finally {
        await primary.run('UNLOCK TABLES');
      }
    } else {
      await readPosition();
    }
    for (const statement of replica.flavor.startReplicaUntil(position)) await replica.run(statement);
    // An old primary that rejoined after a switchover may hold the position as its own writes.
    const there = await alreadyApplied(replica, position);
    const wait = replica.flavor.waitForGtid(position, timeoutSeconds);
    const [r] = there ? [{ result: 0 }] : await replica.query<Row>(wait.sql, wait.values);
    if (!replica.flavor.gtidWaitSucceeded(r?.result)) {
      throw new StateChangeRefusedError(`${replica.id} did not reach ${position} within ${timeoutSeconds}s`);
    }
    // The applier stops by itself right after the position; wait until it has.
    for (let i = 0; i < 100; i++) {
      const s = await replicaStatus(replica);
      if (s?.sqlRunning !== 'Yes') break;
      await sleep(20);
    }
    const replicaSums = await checksumTables(
      replica,
      primaryTables.filter((t) => replicaTables.has(t)),
    );
    // Read after the replica's checksums: anything applied past the position until then shows.
    const replicaPosition = replica.flavor.isMariadb ? undefined : await executedSet(replica);
    const differing: ChecksumComparison['differing'] = [];
    const missing: ChecksumComparison['missing'] = [];
    for (const t of primaryTables) {
      if (!replicaTables.has(t)) {
        missing.push({ table: t, on: 'replica' });
        continue;
      }
      const a = sums.get(t) ?? null;
      const b = replicaSums.get(t) ?? null;
      if (a !== b) differing.push({ table: t, primary: a, replica: b });
    }
    const primarySet = new Set(primaryTables);
    for (const t of replicaTables) if (!primarySet.has(t)) missing.push({ table: t, on: 'primary' });
    return {
      tables: primaryTables.length,
      differing,
      missing,
      position,
      ...(replicaPosition === undefined
        ? {}
        : { replicaPosition, ranPast: ranPastPosition(stoppedAt, replicaPosition, position) }),
      consistent: differing.length === 0 && missing.length === 0,
    };
  } finally {
    try {
      if (acknowledges) await replica.run(`SET GLOBAL ${replica.flavor.semiSyncVariable('replica')} = ON`);
    } finally {
      await replica.run(replica.flavor.startReplica());
    }
  }
}

/**
 * MariaDB (seen on 10.11): a semi-sync replica whose IO thread stops by itself at an UNTIL
 * master_gtid_pos leaves the primary's dump thread hanging in "Waiting to finalize termination", and the
 * primary then refuses every later connection of that replica ("a slave with the same server_id has
 * connected"): replication from it is gone, not only semi-sync. So the replay to the position runs as
 * an asynchronous replica (the switch is read when the IO thread connects); it acknowledges again from
 * the restart on. Called with both threads stopped. Returns whether it was switched off.
 */
async function pauseSemiSyncAcknowledgements(replica: ServerAdmin): Promise<boolean> {
  if (!replica.flavor.isMariadb) return false;
  const variable = replica.flavor.semiSyncVariable('replica');
  const [r] = await replica.query<Row>(`SELECT @@global.${variable} AS v`);
  if (Number(r?.v) !== 1) return false;
  await replica.run(`SET GLOBAL ${variable} = OFF`);
  return true;
}
