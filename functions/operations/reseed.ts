/**
 * Reseed: a consistent streaming dump of the source into object storage, restored into the target
 * (its schemas replaced), with the target's GTID state set to the dump's position so that replication
 * with auto-positioning continues exactly after it.
 *
 * The dump includes the source's accounts and grants (the flavor's account tables): an account
 * created or a password rotated on the source before the dump is not in the replication stream after
 * the dump's position, so without them the rebuilt server would refuse those logins after the next
 * failover to it. On MariaDB the target also gets the source's whole gtid_binlog_state, so a later
 * comparison of binlog states (salvage) sees every transaction the restored data contains.
 *
 * Resumable across invocations (Lambda deadline, a crashed operation master): the dump lives under a
 * key fixed by the operation and the target, so a later run finds its manifest and does not dump
 * again, and the restore continues from its checkpoint on the target. An interrupted dump continues
 * from the parts already stored (dump README, "Dumps that resume"): parts read by several calls stand
 * at different positions, and the restore replays the source's binary log idempotently from the
 * earliest to past the latest before the rebuild counts as done (which needs the replication account).
 */
import type { SslOptions } from 'mysql2';
import { replicationTls } from '../cluster/tls.js';
import type { Config } from '../config/schema.js';
import type { ServerId } from '../core/snapshot.js';
import { dumpDatabase } from '../dump/dump.js';
import { MANIFEST_KEY } from '../dump/manifest.js';
import type { ReplaySource } from '../dump/replay.js';
import { loadVerifiedManifest, restoreDump } from '../dump/restore.js';
import { COORDINATION_SCHEMA } from '../election/schema.js';
import { ConfigError, errorMessage } from '../errors.js';
import type { ObjectStore } from '../storage/object-store.js';
import { type Row, type ServerAdmin, serverById, str } from './admin.js';
import { lowerSuperReadOnly, raiseSuperReadOnly, type StepResult } from './server-steps.js';

export interface ReseedInput {
  target: ServerAdmin;
  source: ServerAdmin;
  /** The dump's place (a prefix of the operation). */
  store: ObjectStore;
  watchdog: { user: string; password: string; ssl?: SslOptions };
  /**
   * How the target reaches the source for replication (its replication address and account): a dump
   * read over several calls is caught up through it. Without it such a dump is refused.
   */
  replication?: ReplaySource;
  signal?: AbortSignal;
}

/** The source as the target's replication reaches it, for the catch-up of a dump read over several calls. */
export function replaySourceOf(
  config: Config,
  from: ServerId,
  account: { user: string; password: string },
): ReplaySource {
  const src = serverById(config, from);
  return {
    host: src.replicationHost,
    port: src.replicationPort,
    user: account.user,
    password: account.password,
    connectRetrySeconds: 1,
    ...replicationTls(config.tls),
  };
}

const SYSTEM = ['mysql', 'information_schema', 'performance_schema', 'sys', COORDINATION_SCHEMA];

export async function reseed(input: ReseedInput): Promise<StepResult> {
  const { target, source, store, signal } = input;
  const account = input.watchdog;
  let dumped = false;
  let manifestGtid: string;
  let rows: number;
  if (await store.head(MANIFEST_KEY)) {
    const { manifest } = await loadVerifiedManifest(store);
    manifestGtid = manifest.gtid.position;
    rows = manifest.totals.rows;
  } else {
    const result = await dumpDatabase({
      source: { host: source.server.host, port: source.server.port, ...account },
      store,
      includeUsers: true,
      resume: true,
      // Parts of about 50,000 rows: what a stopped call loses is at most one part per worker, and a
      // part of a typical table fits in one upload part (memory of the function).
      chunkRows: 50_000,
      ...(signal ? { signal } : {}),
    });
    dumped = true;
    manifestGtid = result.manifest.gtid.position;
    rows = result.manifest.totals.rows;
  }
  const { manifest } = await loadVerifiedManifest(store);
  if (manifest.gtid.replayUntil && !input.replication) {
    throw new ConfigError(
      'the dump was read over several calls and needs an idempotent catch-up through replication: credentials.replication is missing',
    );
  }
  // A fenced or rebuilt MySQL server is super_read_only, which refuses the watchdog's DROP, CREATE and
  // INSERT too: plain read_only (the watchdog's CONNECTION_ADMIN writes through it) for the load, and
  // super_read_only again afterwards, whether the load succeeded or not.
  const lowered = await lowerSuperReadOnly(target);
  let result: StepResult;
  try {
    result = await replaceData();
  } catch (error) {
    if (lowered) await raiseSuperReadOnly(target).catch(() => undefined);
    throw error;
  }
  if (lowered) await raiseSuperReadOnly(target);
  return result;

  async function replaceData(): Promise<StepResult> {
    // Schemas the target has and the source does not: their contents were saved by the salvage step;
    // they go, so the rebuilt server holds exactly the source's data.
    const extra = (
      await target.query<Row>(
        `SELECT SCHEMA_NAME AS s FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN (${SYSTEM.map(() => '?').join(',')})`,
        SYSTEM,
      )
    )
      .map((r) => str(r.s))
      .filter((s) => !manifest.schemas.includes(s));
    const dropped: string[] = [];
    const notDropped: string[] = [];
    for (const s of extra) {
      try {
        await target.run(`DROP DATABASE \`${s.replace(/`/g, '``')}\``);
        dropped.push(s);
      } catch (error) {
        notDropped.push(`${s} (${errorMessage(error)})`);
      }
    }
    const restored = await restoreDump({
      target: { host: target.server.host, port: target.server.port, ...account },
      store,
      replace: true,
      setGtid: true,
      ...(input.replication ? { replaySource: input.replication } : {}),
      ...(signal ? { signal } : {}),
    });
    return {
      detail: `${target.id} rebuilt from ${source.id}: ${rows} rows at GTID ${manifestGtid}${dumped ? '' : ' (dump of an earlier run reused)'}${restored.resumed ? `, restore resumed (${restored.objectsSkipped} objects already loaded)` : ''}${restored.replay ? `, read over ${manifest.snapshot.sessions ?? 'several'} calls and replayed idempotently from ${restored.replay.from} to ${restored.replay.until}` : ''}${dropped.length ? `; dropped schemas only the target had: ${dropped.join(', ')}` : ''}${notDropped.length ? `; could not drop: ${notDropped.join(', ')}` : ''}`,
      data: {
        dumpUrl: store.url,
        gtid: restored.gtidPosition,
        rows,
        dumped,
        resumed: restored.resumed,
        ...(restored.replay ? { replay: restored.replay } : {}),
        objectsLoaded: restored.objectsLoaded,
        objectsSkipped: restored.objectsSkipped,
        droppedSchemas: dropped,
        ...(lowered ? { superReadOnly: 'lifted for the load and set again' } : {}),
      },
    };
  }
}
