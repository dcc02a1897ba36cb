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
import {
  DbError,
  DeadlineError,
  errorMessage,
  ReseedCommandError,
  SafetyRefusalError,
} from '../../errors.js';
import type { ObjectStore } from '../../storage/object-store.js';
import { type ServerAdmin, str } from '../admin.js';
import type { StepResult } from '../server-steps.js';
import { chooseReseedMethod } from './choose.js';
import type { HostCommands } from './commands.js';
import { ensureReseedJournal, readCommand, T } from './journal.js';
import { dropCoordinationCopy, physicalReseed } from './orchestrate.js';
import { cloneProgressOf, describeProgress, type ReseedProgress } from './progress.js';

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
  const already =
    (await readCommand(input.db, input.openedEpoch, target, mariadb ? 'backup' : 'clone')) !== null;
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
 * MySQL: CLONE INSTANCE FROM the source. The copy runs in the recipient server, whoever waits for it: a
 * client that goes away (the invocation's deadline) does not stop it (seen on MySQL 9.7), so the
 * statement is started once per operation and followed through `performance_schema.clone_status` by
 * this run and its continuations, with no time limit but the copy's own. The journal records the
 * recipient's own clock when it was started (clone_status.BEGIN_TIME is on that clock): a status from
 * an older copy is not this one's. The recipient restarts after the copy (or, without a supervisor,
 * stops with error 3707 and is started by its unit).
 */
async function cloneReseed(input: PhysicalBranchInput, reason: string): Promise<StepResult> {
  const { source, db, openedEpoch, signal } = input;
  const recorded = await readCommand(db, openedEpoch, input.target, 'clone');
  // A recipient that does not answer is restarting after the copy (or waits for its unit): followed.
  const followed =
    recorded !== null &&
    recorded.state !== 'failed' &&
    (await cloneSince(input, recorded.commandId).then(
      (s) => s !== null,
      () => true,
    ));
  let mark: string;
  if (followed) {
    mark = recorded!.commandId;
    input.log?.('clone: following the copy started earlier', { target: input.target, since: mark });
  } else {
    mark = await startClone(input, (recorded?.attempt ?? 0) + 1);
  }
  let unreachableSince: number | null = null;
  for (;;) {
    try {
      const s = await cloneSince(input, mark);
      unreachableSince = null;
      if (s?.state === 'Completed') {
        const admin = await input.connectTarget();
        for (const statement of admin.flavor.cloneFinishedStatements()) await admin.run(statement);
        await dropCoordinationCopy(admin);
        await finishClone(input, 'done', `cloned at GTID ${str(s.gtid)}`);
        return {
          detail: `${input.target} cloned from ${source.id} at GTID ${str(s.gtid)} (${reason})`,
          data: { method: 'clone', gtid: str(s.gtid) },
        };
      }
      if (s?.state === 'In Progress' && str(s.stage)) await reportCloneProgress(input, s);
      if (s?.state === 'Failed') {
        const message = `CLONE failed: ${str(s.errno)} ${str(s.error)}`;
        await undoClonePersist(await input.connectTarget());
        await finishClone(input, 'failed', message);
        throw new ReseedCommandError(message);
      }
    } catch (error) {
      if (error instanceof ReseedCommandError) throw error;
      // Restarting after the copy (or stopped, waiting for its unit): not an answer yet.
      unreachableSince ??= Date.now();
      if (Date.now() - unreachableSince > 600_000)
        throw new ReseedCommandError(
          `the server rebuilt by CLONE does not accept connections: ${errorMessage(error)}`,
          { cause: error },
        );
      input.log?.('clone: waiting for the recipient', { error: errorMessage(error) });
    }
    try {
      await sleep(2_000, undefined, { signal });
    } catch {
      throw new DeadlineError(`CLONE into ${input.target} still running; the continuation follows it`, {
        cause: signal.reason,
      });
    }
  }
}

/** The recipient's last copy if it began at `mark` or later (its own clock); null otherwise. */
async function cloneSince(input: PhysicalBranchInput, mark: string): Promise<Record<string, unknown> | null> {
  const admin = await input.connectTarget();
  const [s] = await admin.query<Record<string, unknown>>(admin.flavor.cloneStatusQuery(), [mark]);
  return s && str(s.state) !== 'Not Started' && Number(s.current) === 1 ? s : null;
}

/**
 * Records the copy in the journal (with the recipient's clock), then starts it; returns, once it runs,
 * the recipient's clock when it was recorded (the copy's clone_status.BEGIN_TIME is at or after it).
 */
async function startClone(input: PhysicalBranchInput, attempt: number): Promise<string> {
  const { source, db, openedEpoch, signal } = input;
  if (signal.aborted) throw new DeadlineError('stopped before starting CLONE', { cause: signal.reason });
  const target = await input.connectTarget();
  await input.beforeRestore();
  await refuseIfReplicatedFrom(target, { notReplicas: [source] });
  const [now] = await target.query<{ t: unknown }>('SELECT CAST(NOW(6) AS CHAR) AS t');
  const mark = str(now?.t);
  await db.execute(
    `REPLACE INTO ${T} (opened_epoch, server, stage, attempt, runner, command_id, state, started_at, updated_at)
     VALUES (?, ?, 'clone', ?, 'sql', ?, 'running', NOW(6), NOW(6))`,
    [openedEpoch, input.target, attempt, mark],
  );
  const statements = target.flavor.cloneStatements({
    host: source.server.replicationHost,
    port: source.server.replicationPort,
    ...input.donorAccount,
  });
  const undo = () => undoClonePersist(target);
  for (const s of statements.slice(0, -1)) {
    try {
      await target.run(s);
    } catch (error) {
      await undo();
      await finishClone(input, 'failed', errorMessage(error));
      throw error;
    }
  }
  // The copy itself: it ends with the recipient's restart (the connection drops; 3707 without a
  // supervisor), or with an error before anything was replaced. The deadline does not wait for it.
  const copy = target.run(statements.at(-1)!).then(
    () => null,
    (error: unknown) => error,
  );
  const stopped = new Promise<'stopped'>((resolve) =>
    signal.aborted
      ? resolve('stopped')
      : signal.addEventListener('abort', () => resolve('stopped'), { once: true }),
  );
  // A refusal comes at once; a copy that still runs after a few seconds is followed (and its progress
  // reported) through clone_status, where a later failure shows as Failed.
  const outcome = await Promise.race([
    copy,
    stopped,
    sleep(CLONE_REFUSAL_WAIT_MS).then(() => 'running' as const),
  ]);
  if (outcome === 'stopped' || outcome === 'running' || outcome === null) return mark;
  const errno = outcome instanceof DbError ? (outcome.details?.errno as number | undefined) : undefined;
  if (errno === undefined || errno === 3707) return mark;
  // Refused before copying (privileges, donor list, plugin): nothing was replaced.
  await undo();
  await finishClone(input, 'failed', errorMessage(outcome));
  throw outcome;
}

/** How long a started CLONE is given to be refused before it is followed through clone_status. */
const CLONE_REFUSAL_WAIT_MS = 3_000;

/** Not copied: the values persisted for the restart after a copy must not outlive it. */
async function undoClonePersist(target: ServerAdmin): Promise<void> {
  for (const u of target.flavor.cloneFinishedStatements()) await target.run(u).catch(() => undefined);
}

/** The copy's progress: in the journal (`repl-watchdog status`), the logs and the progress metric. */
async function reportCloneProgress(input: PhysicalBranchInput, s: Record<string, unknown>): Promise<void> {
  const progress = cloneProgressOf(
    input.target,
    {
      stage: str(s.stage),
      bytes: Number(str(s.bytes)) || 0,
      estimate: Number(str(s.estimate)) || 0,
      stageMicros: Number(str(s.stage_us)) || 0,
    },
    new Date().toISOString(),
  );
  input.onProgress?.(progress);
  input.log?.('clone: progress', { ...progress, line: describeProgress(progress) });
  await input.db.execute(
    `UPDATE ${T} SET progress = ?, updated_at = NOW(6) WHERE opened_epoch = ? AND server = ? AND stage = 'clone'`,
    [JSON.stringify(progress), input.openedEpoch, input.target],
  );
}

async function finishClone(
  input: PhysicalBranchInput,
  state: 'done' | 'failed',
  result: string,
): Promise<void> {
  await input.db.execute(
    `UPDATE ${T} SET state = ?, result = ?, updated_at = NOW(6) WHERE opened_epoch = ? AND server = ? AND stage = 'clone'`,
    [state, JSON.stringify({ ok: state === 'done', message: result }), input.openedEpoch, input.target],
  );
}
