/**
 * The branch point from the Reseed step to a physical rebuild: measures the source, asks the hosts,
 * chooses the method (choose.ts) and runs it — mariadb-backup through the hosts (orchestrate.ts) or
 * MySQL's CLONE (statement level) — or returns null for the logical path.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CLONE_PRIVILEGES, OWN_GLOBAL_PRIVILEGES_SQL } from '../../cluster/flavor.js';
import type { Config } from '../../config/schema.js';
import type { ServerId } from '../../core/snapshot.js';
import type { CoordinationDb } from '../../election/db.js';
import { DbError, errorMessage, ReseedCommandError, SafetyRefusalError } from '../../errors.js';
import type { ObjectStore } from '../../storage/object-store.js';
import { type ServerAdmin, str } from '../admin.js';
import type { StepResult } from '../server-steps.js';
import { chooseReseedMethod } from './choose.js';
import type { HostCommands } from './commands.js';
import { ensureReseedJournal, readCommand } from './journal.js';
import { dropCoordinationCopy, physicalReseed } from './orchestrate.js';
import type { ReseedProgress } from './progress.js';

export interface PhysicalBranchInput {
  config: Config;
  db: CoordinationDb;
  openedEpoch: number;
  source: ServerAdmin;
  /** The target's id; it is connected only when needed (it is stopped while its restore runs). */
  target: ServerId;
  connectTarget: () => Promise<ServerAdmin>;
  /** Absent: no host can run the physical reseed (logical, or CLONE on MySQL). */
  commands?: HostCommands;
  /** The base store (config.objectStore: the hosts' RESEED_STORE) and the backup's key in it. */
  store: ObjectStore;
  key: string;
  /** The account CLONE connects to the donor with (BACKUP_ADMIN there). */
  donorAccount: { user: string; password: string };
  beforeRestore: () => Promise<void>;
  signal: AbortSignal;
  log?: (message: string, extra?: Record<string, unknown>) => void;
  onProgress?: (progress: ReseedProgress) => void;
}

/**
 * Safety rule 8 for the one command that stops and replaces a server: a server that others replicate
 * from is not a leaf to rebuild (stopping it cuts them off; its replacement would not hold what they
 * applied). Read from the replicas registered with it (SHOW SLAVE HOSTS / SHOW REPLICAS): a replica's IO
 * thread registers before it asks for events. A binary-log reader that does not register (the salvage's
 * `mariadb-binlog`/`mysqlbinlog` extract, a backup tool streaming binlogs) also holds a Binlog Dump thread,
 * which may outlive the tool by a while; it is nobody's source of data and does not count.
 */
export async function refuseIfReplicatedFrom(
  target: ServerAdmin,
  options: { notReplicas?: readonly ServerAdmin[] } = {},
): Promise<void> {
  // A server known not to replicate from the target (the reseed's source: promoted, its replication
  // reset) may still be registered there for a while after its IO thread stopped.
  const known = new Set<string>();
  for (const s of options.notReplicas ?? []) {
    const [r] = await s.query<{ id: unknown }>('SELECT @@global.server_id AS id');
    known.add(str(r?.id));
  }
  const rows = (await target.query<Record<string, unknown>>(target.flavor.showReplicas())).filter(
    (r) => !known.has(str(r.Server_id)),
  );
  if (rows.length > 0) {
    const names = rows.map((r) => {
      const host = str(r.Host);
      const port = str(r.Port);
      return `server id ${str(r.Server_id)}${host ? ` ${host}:${port}` : ''}`;
    });
    throw new SafetyRefusalError(
      `refusing to replace ${target.id}: ${rows.length} replica(s) replicate from it (${names.join(', ')})`,
    );
  }
}

async function sourceBytes(source: ServerAdmin): Promise<number> {
  const [r] = await source.query<{ b: unknown }>(
    "SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) AS b FROM information_schema.TABLES WHERE TABLE_SCHEMA NOT IN ('information_schema', 'performance_schema', 'sys')",
  );
  return Number(str(r?.b)) || 0;
}

/** The clone plugin is loaded and active (`plugin-load-add=mysql_clone.so`, not `clone=OFF`). */
async function cloneActive(admin: ServerAdmin): Promise<boolean> {
  const [r] = await admin.query<{ s: unknown }>(
    "SELECT PLUGIN_STATUS AS s FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'clone'",
  );
  return str(r?.s) === 'ACTIVE';
}

/** Which of `wanted` the watchdog's own account on `admin` does not show ("X on host:port"). */
async function lacking(admin: ServerAdmin, wanted: readonly string[]): Promise<string[]> {
  const held = new Set(
    (await admin.query<{ p: unknown }>(OWN_GLOBAL_PRIVILEGES_SQL)).map((r) => str(r.p).toUpperCase()),
  );
  return wanted.filter((p) => !held.has(p)).map((p) => `${p} on ${admin.id}`);
}

/** Whether CLONE can run between the two (plugin active on both), and the privileges it would lack. */
async function cloneFacts(
  source: ServerAdmin,
  connectTarget: () => Promise<ServerAdmin>,
): Promise<{ supportsClone: boolean; cloneMissing: string[] }> {
  const target = source.flavor.supportsClone ? await connectTarget().catch(() => null) : null;
  if (!target || !(await cloneActive(source)) || !(await cloneActive(target)))
    return { supportsClone: false, cloneMissing: [] };
  return {
    supportsClone: true,
    cloneMissing: [
      ...(await lacking(source, CLONE_PRIVILEGES.donor)),
      ...(await lacking(target, CLONE_PRIVILEGES.recipient)),
    ],
  };
}

export async function physicalIfChosen(input: PhysicalBranchInput): Promise<StepResult | null> {
  const { config, target, source } = input;
  // Source and target are one flavor family (replication between them); the target may be stopped.
  const mariadb = source.flavor.isMariadb;
  if (config.reseed.method === 'logical') return null;
  await ensureReseedJournal(input.db);
  const already = (await readCommand(input.db, input.openedEpoch, target, 'backup')) !== null;
  const reachable =
    mariadb && input.commands
      ? (await input.commands.reachable(source.id)) && (await input.commands.reachable(target))
      : false;
  const { method, reason } = chooseReseedMethod({
    config: config.reseed,
    mariadb,
    ...(mariadb ? { supportsClone: false } : await cloneFacts(source, input.connectTarget)),
    sourceBytes: await sourceBytes(source),
    hostsReachable: reachable,
    alreadyPhysical: already,
  });
  input.log?.('reseed method', { target, method, reason });
  if (method === 'logical') return null;
  if (method === 'clone') return cloneReseed(input, reason);
  if (!input.commands)
    throw new ReseedCommandError('a physical reseed is under way but no host commands are configured');
  const r = await physicalReseed({
    db: input.db,
    openedEpoch: input.openedEpoch,
    source: source.id,
    target,
    commands: input.commands,
    store: input.store,
    key: input.key,
    parallel: config.reseed.parallel,
    connectSource: async () => source,
    connectTarget: input.connectTarget,
    beforeRestore: async () => {
      await input.beforeRestore();
      await refuseIfReplicatedFrom(await input.connectTarget(), { notReplicas: [source] });
    },
    signal: input.signal,
    ...(input.log ? { log: input.log } : {}),
    ...(input.onProgress ? { onProgress: input.onProgress } : {}),
  });
  return { ...r, detail: `${r.detail} (${reason})` };
}

/**
 * MySQL: CLONE INSTANCE FROM the source. The statement runs until the copy is done; the recipient
 * then restarts itself (or, without a supervisor, stops with error 3707 and is started by its unit).
 */
async function cloneReseed(input: PhysicalBranchInput, reason: string): Promise<StepResult> {
  const { source } = input;
  const target = await input.connectTarget();
  await input.beforeRestore();
  await refuseIfReplicatedFrom(target, { notReplicas: [source] });
  const statements = target.flavor.cloneStatements({
    host: source.server.replicationHost,
    port: source.server.replicationPort,
    ...input.donorAccount,
  });
  for (const [i, s] of statements.entries()) {
    try {
      await target.run(s);
    } catch (error) {
      // The connection drops when the recipient restarts after the copy; 3707: no supervisor restarted it.
      const errno = error instanceof DbError ? (error.details?.errno as number | undefined) : undefined;
      if (i === statements.length - 1 && (errno === undefined || errno === 3707)) break;
      // Not copied: the values persisted for the restart after a copy must not outlive it.
      for (const undo of target.flavor.cloneFinishedStatements())
        await target.run(undo).catch(() => undefined);
      throw error;
    }
  }
  const deadline = Date.now() + 600_000;
  for (;;) {
    try {
      const admin = await input.connectTarget();
      const [s] = await admin.query<Record<string, unknown>>(admin.flavor.cloneStatusQuery());
      if (str(s?.state) === 'Completed') {
        for (const statement of admin.flavor.cloneFinishedStatements()) await admin.run(statement);
        await dropCoordinationCopy(admin);
        return {
          detail: `${target.id} cloned from ${source.id} at GTID ${str(s?.gtid)} (${reason})`,
          data: { method: 'clone', gtid: str(s?.gtid) },
        };
      }
      if (str(s?.state) === 'Failed')
        throw new ReseedCommandError(`CLONE failed: ${str(s?.errno)} ${str(s?.error)}`);
    } catch (error) {
      if (error instanceof ReseedCommandError || Date.now() > deadline) throw error;
      input.log?.('clone: waiting for the recipient', { error: errorMessage(error) });
    }
    await sleep(2_000, undefined, { signal: input.signal });
  }
}
