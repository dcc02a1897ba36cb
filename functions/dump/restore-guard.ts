/**
 * What makes a restore target unsafe to overwrite (issue 13, finding 2): a restore drops schemas and,
 * with --set-gtid, runs RESET MASTER, which loses the target's binary logs and GTID history. A target
 * that takes writes, feeds replicas, is where a router sends connections, or holds transactions the dump
 * does not have is someone's live data: the restore refuses it, saying which, unless forced.
 */
import { Flavor } from '../cluster/flavor.js';
import { parseGtidSet } from '../core/gtid.js';
import { errorMessage, SafetyRefusalError } from '../errors.js';
import { type ConnectTarget, connect, describeTarget, rows } from './connection.js';

export interface RestoreGuardInput {
  target: ConnectTarget;
  /** The dump's GTID position (manifest.gtid.position); '' when it has none (a plain SQL file). */
  dumpGtid: string;
  /** Routers (group/id) that send connections to the target: found by the caller from the config. */
  routedBy?: readonly string[];
}

/** Every reason the target must not be overwritten (empty: none found). */
export async function restoreTargetProblems(input: RestoreGuardInput): Promise<string[]> {
  const problems: string[] = [];
  const c = await connect(input.target);
  try {
    const [v] = await rows(c, 'SELECT @@version AS v, @@version_comment AS c, @@global.read_only AS ro');
    const flavor = Flavor.detect(String(v?.v ?? ''), String(v?.c ?? ''));
    if (Number(v?.ro) === 0) problems.push('it is writable (read_only=OFF): it may be a primary');
    const dumps = await rows<{ n: unknown }>(
      c,
      "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'",
    );
    const replicas = Number(dumps[0]?.n ?? 0);
    if (replicas > 0) problems.push(`it has ${replicas} replica(s) attached (binlog dump threads)`);
    if (input.routedBy && input.routedBy.length > 0) {
      problems.push(`router(s) ${input.routedBy.join(', ')} send connections to it`);
    }
    const executed = await executedGtids(c, flavor);
    if (!executed.isEmpty()) {
      const dump = parseGtidSet(input.dumpGtid, executed.flavor);
      const lacking = executed.difference(dump);
      if (!lacking.isEmpty()) {
        problems.push(`it holds transactions the dump lacks (${lacking.describe()}): they would be lost`);
      }
    }
  } finally {
    await c.close();
  }
  return problems;
}

/** Everything the target has executed: MariaDB's binary log and replica positions, MySQL's gtid_executed. */
async function executedGtids(c: Awaited<ReturnType<typeof connect>>, flavor: Flavor) {
  if (flavor.isMariadb) {
    const [g] = await rows(c, 'SELECT @@global.gtid_binlog_pos AS b, @@global.gtid_slave_pos AS s');
    return parseGtidSet(String(g?.b ?? ''), 'mariadb').union(parseGtidSet(String(g?.s ?? ''), 'mariadb'));
  }
  const [g] = await rows(c, 'SELECT @@global.gtid_executed AS e');
  return parseGtidSet(String(g?.e ?? ''), 'mysql');
}

/** Refuses (SafetyRefusalError naming every reason) unless `force`; returns the reasons either way. */
export async function guardRestoreTarget(input: RestoreGuardInput & { force: boolean }): Promise<string[]> {
  let problems: string[];
  try {
    problems = await restoreTargetProblems(input);
  } catch (error) {
    if (input.force) return [`the target could not be checked: ${errorMessage(error)}`];
    throw new SafetyRefusalError(
      `refusing to restore into ${describeTarget(input.target)}: it could not be checked (${errorMessage(error)}); --force to restore anyway`,
      { cause: error },
    );
  }
  if (problems.length > 0 && !input.force) {
    throw new SafetyRefusalError(
      `refusing to restore into ${describeTarget(input.target)}: ${problems.join('; ')}. --force to overwrite it anyway`,
      { details: { target: describeTarget(input.target), problems } },
    );
  }
  return problems;
}
