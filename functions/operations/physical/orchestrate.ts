/**
 * A physical reseed as the function runs it: it only orchestrates. It starts the backup on the
 * source's host, then the restore on the target's host (PhysicalReseed document or the local script),
 * records each command's id in the operation journal (`reseed_command`), and on every later run — the
 * same invocation polling, a continuation after a Lambda deadline, another participant that took over
 * — looks at the recorded command again instead of starting a new one, until it finishes. No time
 * limit applies but the command's own. Once the target runs again (read-only), the GTID position the
 * backup recorded becomes its replication position; the plan's StartReplication step follows.
 *
 * Guards: the caller runs the salvage first and checks, right before this step, that no router of any
 * group sends connections to the target; `beforeRestore` repeats that check right before the one
 * command that destroys the target's data is started.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServerId } from '../../core/snapshot.js';
import type { CoordinationDb } from '../../election/db.js';
import { COORDINATION_SCHEMA } from '../../election/schema.js';
import { DeadlineError, errorMessage, ReseedCommandError } from '../../errors.js';
import type { ObjectStore } from '../../storage/object-store.js';
import { type ServerAdmin, str } from '../admin.js';
import type { StepResult } from '../server-steps.js';
import { getJson } from '../store.js';
import { binlogStateAt } from './binlog-state.js';
import type { HostCommands, ReseedScriptResult } from './commands.js';
import { ensureReseedJournal, readCommand, T } from './journal.js';
import type { PhysicalAction } from './parameters.js';
import { describeProgress, type ProgressRecord, progressOf, type ReseedProgress } from './progress.js';

export interface PhysicalReseedInput {
  db: CoordinationDb;
  openedEpoch: number;
  source: ServerId;
  target: ServerId;
  commands: HostCommands;
  /** The base object store, the one the hosts' RESEED_STORE names. */
  store: ObjectStore;
  /** The backup's key under that store. */
  key: string;
  parallel?: number;
  /** A session to the source (its binary log gives the binlog state at the backup). */
  connectSource: () => Promise<ServerAdmin>;
  /** A fresh session to the target (its old one died with the restart). */
  connectTarget: () => Promise<ServerAdmin>;
  /** Safety rule 3, repeated right before the restore command starts. */
  beforeRestore: () => Promise<void>;
  signal: AbortSignal;
  /** Between two looks at a running command (default 5 s). */
  pollMs?: number;
  /** Attempts per stage before the step fails (default 3). */
  attempts?: number;
  log?: (message: string, extra?: Record<string, unknown>) => void;
  onProgress?: (progress: ReseedProgress) => void;
}

async function readProgress(
  store: ObjectStore,
  key: string,
  stage: PhysicalAction,
): Promise<ProgressRecord | null> {
  try {
    return await getJson<ProgressRecord>(
      store,
      stage === 'backup' ? `${key}.progress.json` : `${key}.restore-progress.json`,
    );
  } catch {
    // A record half-written or unreadable right now: the next look reads it again.
    return null;
  }
}

/** Runs (or follows) one stage's command until it succeeds; throws on the last failed attempt. */
async function runStage(
  input: PhysicalReseedInput,
  stage: PhysicalAction,
  server: ServerId,
): Promise<ReseedScriptResult> {
  const { db, openedEpoch, commands, signal } = input;
  const maxAttempts = input.attempts ?? 3;
  const log = input.log ?? (() => {});
  let row = await readCommand(db, openedEpoch, server, stage);
  if (row?.state === 'done' && row.result) return row.result;
  let lastError = row?.result?.message ?? 'see the journal';
  for (;;) {
    if (!row || row.state === 'failed') {
      const attempt = (row?.attempt ?? 0) + 1;
      if (attempt > maxAttempts) {
        throw new ReseedCommandError(
          `physical ${stage} on ${server} failed ${maxAttempts} times: ${lastError}`,
        );
      }
      if (signal.aborted)
        throw new DeadlineError(`stopped before starting the ${stage}`, { cause: signal.reason });
      if (stage === 'restore') await input.beforeRestore();
      const commandId = await commands.start(server, {
        action: stage,
        key: input.key,
        store: input.store.url,
        ...(input.parallel ? { parallel: input.parallel } : {}),
      });
      await db.execute(
        `REPLACE INTO ${T} (opened_epoch, server, stage, attempt, runner, command_id, state, started_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, 'running', NOW(6), NOW(6))`,
        [openedEpoch, server, stage, attempt, commands.kind, commandId],
      );
      log('physical reseed: command started', { stage, server, commandId, attempt, runner: commands.kind });
      row = {
        server,
        stage,
        attempt,
        runner: commands.kind,
        commandId,
        state: 'running',
        progress: null,
        result: null,
      };
    }
    const status = await commands.status(server, row.commandId);
    const record = await readProgress(input.store, input.key, stage);
    const progress = record && record.stage === stage ? progressOf(input.target, record) : null;
    if (progress) {
      input.onProgress?.(progress);
      log('physical reseed: progress', { ...progress, line: describeProgress(progress) });
    }
    if (status.state === 'running') {
      await db.execute(
        `UPDATE ${T} SET progress = ?, updated_at = NOW(6) WHERE opened_epoch = ? AND server = ? AND stage = ?`,
        [progress ? JSON.stringify(progress) : null, openedEpoch, server, stage],
      );
      try {
        await sleep(input.pollMs ?? 5_000, undefined, { signal });
      } catch {
        // The deadline: the command keeps running on its host; the continuation looks at it again.
        throw new DeadlineError(`physical ${stage} on ${server} still running (command ${row.commandId})`, {
          cause: signal.reason,
        });
      }
      continue;
    }
    const state = status.state === 'succeeded' ? 'done' : 'failed';
    await db.execute(
      `UPDATE ${T} SET state = ?, progress = ?, result = ?, updated_at = NOW(6) WHERE opened_epoch = ? AND server = ? AND stage = ?`,
      [
        state,
        progress ? JSON.stringify(progress) : null,
        JSON.stringify(status.result ?? { ok: false, message: status.error ?? 'failed' }),
        openedEpoch,
        server,
        stage,
      ],
    );
    if (status.state === 'succeeded' && status.result) return status.result;
    lastError = status.error ?? status.result?.message ?? 'failed without a message';
    log('physical reseed: command failed', { stage, server, commandId: row.commandId, error: lastError });
    // exit 4/5 of a restore: the server was stopped or emptied; a new attempt fetches again and
    // replaces it; the journal keeps every attempt's outcome in `result` of the last one.
    row = { ...row, state: 'failed', result: status.result ?? null };
  }
}

async function waitForServer(connect: () => Promise<ServerAdmin>, signal: AbortSignal): Promise<ServerAdmin> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      return await connect();
    } catch (error) {
      if (Date.now() > deadline || signal.aborted)
        throw new ReseedCommandError(
          `the rebuilt server does not accept connections: ${errorMessage(error)}`,
          {
            cause: error,
          },
        );
      await sleep(1_000);
    }
  }
}

/**
 * A physical copy carries the source's coordination schema (the election's rows, the journal): on
 * the rebuilt server they would describe an operation that is not its own, and an observer would see
 * it as in progress. The schema is dropped there without logging it (it never replicates, like every
 * coordination write); the logical path never copies it.
 */
export async function dropCoordinationCopy(admin: ServerAdmin): Promise<void> {
  await admin.run(admin.flavor.disableBinlogForSession());
  try {
    await admin.run(`DROP DATABASE IF EXISTS \`${COORDINATION_SCHEMA}\``);
  } finally {
    await admin.run(admin.flavor.enableBinlogForSession());
  }
}

export async function physicalReseed(input: PhysicalReseedInput): Promise<StepResult> {
  await ensureReseedJournal(input.db);
  const t0 = Date.now();
  const backup = await runStage(input, 'backup', input.source);
  const restore = await runStage(input, 'restore', input.target);
  const admin = await waitForServer(input.connectTarget, input.signal);
  // The restored server started read-only; keep it so (a watchdog that restarted it meanwhile).
  const [ro] = await admin.query<{ ro: unknown }>('SELECT @@global.read_only AS ro');
  if (Number(ro?.ro) !== 1) await admin.run('SET GLOBAL read_only = ON');
  await dropCoordinationCopy(admin);
  const gtid = restore.gtid;
  // The source's whole binlog state at the backup, so that its history is the rebuilt server's too.
  const state = gtid
    ? await binlogStateAt(await input.connectSource(), restore.binlog, restore.binlogPos)
    : null;
  if (gtid) {
    for (const s of admin.flavor.setGtidPositionAfterRestore(gtid, state ?? undefined)) await admin.run(s);
  }
  const [pos] = await admin.query<{ p: unknown }>(
    `SELECT @@global.${admin.flavor.isMariadb ? 'gtid_slave_pos' : 'gtid_executed'} AS p`,
  );
  if (gtid && str(pos?.p) !== gtid) {
    throw new ReseedCommandError(`the rebuilt server's GTID position is ${str(pos?.p)}, expected ${gtid}`);
  }
  return {
    detail: `${input.target} rebuilt physically from ${input.source}: ${backup.rawBytes} bytes (${backup.storedBytes} compressed) at GTID ${gtid || 'none'}${state ? ` (binlog state ${state})` : ''} through ${input.store.url}/${input.key} (${input.commands.kind} commands)`,
    data: {
      method: 'physical',
      backupUrl: `${input.store.url}/${input.key}`,
      gtid,
      binlogState: state,
      rawBytes: backup.rawBytes,
      storedBytes: backup.storedBytes,
      backupSeconds: backup.durationS,
      restoreSeconds: restore.durationS,
      followedMs: Date.now() - t0,
    },
  };
}
