/**
 * The catch-up of a dump whose parts were read at different positions (README.md, "Dumps that
 * resume"): the restored server replicates from the earliest position with
 * slave_exec_mode=IDEMPOTENT, stops exactly after the latest (START SLAVE UNTIL), and goes back to
 * STRICT. From there its data is the source's at that position, and ordinary replication follows.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChangeSourceOptions, Flavor } from '../cluster/flavor.js';
import { parseGtidSet } from '../core/gtid.js';
import { DbError, DeadlineError, errorMessage } from '../errors.js';
import { type Conn, rows } from './connection.js';

export type ReplaySource = Omit<ChangeSourceOptions, 'mariadbGtidMode'>;

function execModeVariable(flavor: Flavor): string {
  return !flavor.isMariadb && flavor.usesReplicaTerms ? 'replica_exec_mode' : 'slave_exec_mode';
}

function str(v: unknown): string {
  if (v === null || v === undefined) return '';
  return Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
}

/** Where the server's applier stands (MariaDB gtid_slave_pos, MySQL gtid_executed). */
async function appliedPosition(c: Conn, flavor: Flavor): Promise<string> {
  const [g] = await rows(c, flavor.gtidQuery());
  return flavor.isMariadb ? str(g?.slave_pos) : str(g?.executed).replace(/\s+/g, '');
}

/**
 * Replicates `c` (replication stopped, GTID state set to the dump's position) from `source` until
 * past `until` with idempotent row application, then sets STRICT again and leaves replication
 * stopped (the caller starts it for good). Throws on a replication error, the deadline or the timeout,
 * STRICT restored in every case.
 */
export async function replayIdempotentlyUntil(
  c: Conn,
  flavor: Flavor,
  source: ReplaySource,
  until: string,
  options: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<{ position: string; seconds: number }> {
  const started = performance.now();
  const mode = execModeVariable(flavor);
  const target = parseGtidSet(until, flavor.isMariadb ? 'mariadb' : 'mysql');
  const stop = flavor.stopReplica();
  await c.p.query(stop).catch(() => undefined);
  const change = flavor.changeSource({ ...source, mariadbGtidMode: 'slave_pos' });
  await c.p.query(change.sql, change.values);
  await c.p.query(`SET GLOBAL ${mode} = 'IDEMPOTENT'`);
  try {
    for (const s of flavor.startReplicaUntil(until)) await c.p.query(s.sql, s.values);
    const deadline = Date.now() + (options.timeoutMs ?? 3_600_000);
    for (;;) {
      if (options.signal?.aborted) {
        throw new DeadlineError('idempotent catch-up stopped by the deadline; the next run starts it again', {
          cause: options.signal.reason,
        });
      }
      const position = await appliedPosition(c, flavor);
      if (parseGtidSet(position, flavor.isMariadb ? 'mariadb' : 'mysql').contains(target)) {
        await c.p.query(stop);
        await c.p.query(`SET GLOBAL ${mode} = 'STRICT'`);
        return { position, seconds: (performance.now() - started) / 1000 };
      }
      const status = flavor.normalizeReplicaStatus(await rows(c, flavor.showReplicaStatus()));
      if (status && (status.lastSqlErrno !== 0 || (status.lastIoErrno !== 0 && status.ioRunning === 'No'))) {
        throw new DbError(
          `idempotent catch-up to ${until} failed: ${status.lastSqlErrno ? `SQL ${status.lastSqlErrno} ${status.lastSqlError}` : `IO ${status.lastIoErrno} ${status.lastIoError}`}`,
        );
      }
      if (status && status.sqlRunning === 'No' && status.lastSqlErrno === 0) {
        // It may have applied the last transaction and stopped (UNTIL) after its position was read.
        const now = await appliedPosition(c, flavor);
        if (parseGtidSet(now, flavor.isMariadb ? 'mariadb' : 'mysql').contains(target)) continue;
        throw new DbError(`idempotent catch-up stopped at ${now}, before ${until}`);
      }
      if (Date.now() > deadline)
        throw new DbError(`idempotent catch-up did not reach ${until} (at ${position})`);
      await sleep(200);
    }
  } catch (error) {
    if (error instanceof DbError || error instanceof DeadlineError) throw error;
    throw new DbError(`idempotent catch-up to ${until} failed: ${errorMessage(error)}`, { cause: error });
  } finally {
    await c.p.query(stop).catch(() => undefined);
    await c.p.query(`SET GLOBAL ${mode} = 'STRICT'`).catch(() => undefined);
  }
}
