/**
 * A physical reseed as the watchdog runs it, on a real cluster: the recover operation's Reseed step
 * chooses the physical path (config reseed.method), starts mariadb-backup on the source's host and the
 * restore on the target's (the real host script through the local adapter, the harness as the
 * service hook), records both command ids in the operation journal, and follows them — across a run
 * stopped by its deadline while the restore runs, and the continuation that picks the same command up
 * instead of starting another.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, parseConfig } from '../../functions/config/schema.js';
import { connectCoordinationDb } from '../../functions/election/db.js';
import { ReseedCommandError } from '../../functions/errors.js';
import { runCycle } from '../../functions/operations/cycle.js';
import { continuationEvent } from '../../functions/operations/notify.js';
import type { HostCommands } from '../../functions/operations/physical/commands.js';
import { physicalReseed } from '../../functions/operations/physical/orchestrate.js';
import { formatStatus } from '../../functions/operations/status-view.js';
import { sandboxRouterSwitch } from '../../functions/sandbox/drill.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import { openObjectStore } from '../../functions/storage/open-store.js';
import { parseEvent } from '../../functions/triggers/events.js';
import { physicalHosts } from '../harness/physical-hosts.js';
import { checksums } from '../harness/s3-dump-fixtures.js';

let cluster: Cluster;
let config: Config;
let work: string;

beforeAll(async () => {
  cluster = await startCluster({ servers: 2, groups: 1, name: 'physical-op' });
  work = await mkdtemp(join(tmpdir(), 'physical-op-'));
  config = parseConfig(
    {
      ...cluster.config(),
      election: { leaseMs: 2_000, followerTimeoutMs: 10_000, pollMs: 100 },
      reseed: { method: 'physical' },
    },
    'physical reseed test',
  );
  const db1 = cluster.servers[0]!;
  await db1.query('CREATE DATABASE app_physical');
  await db1.query('CREATE TABLE app_physical.t (id INT PRIMARY KEY, v VARCHAR(80)) ENGINE=InnoDB');
  await db1.query("INSERT INTO app_physical.t SELECT seq, REPEAT('r', 80) FROM test.seq_1_to_30000");
  // History written by another server id (as after an earlier failover): the source's binlog state
  // holds an entry for it that its newest GTID does not show.
  const other = await db1.connect();
  try {
    await other.query('SET SESSION server_id = 7');
    await other.query("INSERT INTO app_physical.t VALUES (40000, 'written by server 7')");
  } finally {
    await other.end();
  }
  await db1.query("INSERT INTO app_physical.t VALUES (40001, 'written by server 1')");
  await cluster.waitForReplication(cluster.servers[1]!);
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a physical reseed through the recover operation', () => {
  it('follows its host commands across a deadline and rebuilds the replica from the backup position', async () => {
    const [db1, db2] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
    await cluster.breakReplication(db2);
    const hosts = physicalHosts(cluster.servers, { store: cluster.objectStoreDir, workDir: work });
    const deadline = new AbortController();
    const watcher = (async () => {
      // The deadline strikes once the restore command has been started on the target's host.
      for (let i = 0; i < 6000 && !deadline.signal.aborted; i++) {
        const rows = await db1
          .query("SELECT COUNT(*) AS n FROM ongoing_failover.reseed_command WHERE stage = 'restore'")
          .catch(() => []);
        if (Number(rows[0]?.n ?? 0) > 0) {
          deadline.abort(new Error('deadline'));
          return;
        }
        await sleep(20);
      }
    })();
    const first = await runCycle(
      config,
      { trigger: 'alarm', action: 'check', group: 'g1', dryRun: false, force: false },
      { routers: sandboxRouterSwitch(config), signal: deadline.signal, hostCommands: hosts },
    );
    deadline.abort();
    await watcher;
    expect(first.operation).toMatchObject({ role: 'master', outcome: 'aborted', continuationNeeded: true });
    expect(first.operation!.steps.map((s) => `${s.kind}:${s.outcome}`)).toContain('Salvage:done');

    // Between the runs, status shows the restore still running on its host.
    const status = await runCycle(config, {
      trigger: 'cli',
      action: 'status',
      group: 'g1',
      dryRun: true,
      force: false,
    });
    expect(formatStatus(status)).toMatch(new RegExp(`reseed in progress: ${db2.address}: physical restore`));

    const second = await runCycle(config, parseEvent(continuationEvent(first)), {
      routers: sandboxRouterSwitch(config),
      hostCommands: hosts,
    });
    expect(second.operation).toMatchObject({
      role: 'master',
      outcome: 'completed',
      continuationNeeded: false,
    });
    const reseed = second.operation!.steps.find((s) => s.kind === 'Reseed');
    expect(reseed?.outcome).toBe('done');
    expect(reseed?.detail).toMatch(/rebuilt physically from/);
    // One command per stage: the continuation followed the running restore instead of starting another.
    const commands = await db1.query<{ stage: string; attempt: number; state: string; runner: string }[]>(
      'SELECT stage, attempt, state, runner FROM ongoing_failover.reseed_command ORDER BY stage',
    );
    expect(commands.map((c) => `${c.stage}:${c.attempt}:${c.state}:${c.runner}`)).toEqual([
      'backup:1:done:local',
      'restore:1:done:local',
    ]);
    expect(second.operation!.checksums[0]?.consistent).toBe(true);
    await db1.query("INSERT INTO app_physical.t VALUES (30001, 'after the rebuild')");
    await cluster.waitForReplication(db2, 60_000);
    expect(await checksums(db2, ['app_physical'])).toEqual(await checksums(db1, ['app_physical']));
    // The rebuilt server's binary log state holds the source's history, not only its newest GTID, so
    // that a later salvage (binlog states compared) does not count that history as missing.
    const [state] = await db2.query<{ s: string }[]>('SELECT @@global.gtid_binlog_state AS s');
    expect(state?.s.split(',')).toEqual(expect.arrayContaining([expect.stringMatching(/^0-7-\d+$/)]));
    const [ro] = await db2.query<{ ro: number }[]>('SELECT @@global.read_only AS ro');
    expect(Number(ro?.ro)).toBe(1);
    const after = await runCycle(config, {
      trigger: 'cli',
      action: 'check',
      group: 'g1',
      dryRun: true,
      force: false,
    });
    expect(after.analysis?.code, JSON.stringify(after.analysis?.evidence)).toBe('Ok');
  }, 600_000);
});

describe('a physical reseed whose host command fails', () => {
  it('starts it again, at most three times, then fails the step with the host’s own message', async () => {
    const [db1] = cluster.servers as [Cluster['servers'][number]];
    const db = await connectCoordinationDb({
      host: db1.host,
      port: db1.port,
      ...config.credentials.watchdog!,
    });
    const started: string[] = [];
    const failing: HostCommands = {
      kind: 'fake',
      reachable: async () => true,
      start: async (server, request) => {
        started.push(`${request.action}@${server}`);
        return `cmd-${started.length}`;
      },
      status: async () => ({ state: 'failed', error: 'mariadb-backup --backup failed (exit 1)' }),
    };
    try {
      const outcome = await physicalReseed({
        db,
        openedEpoch: 999_001,
        source: cluster.servers[0]!.address,
        target: cluster.servers[1]!.address,
        commands: failing,
        store: openObjectStore(cluster.objectStoreDir),
        key: 'failing/backup.xb.gz',
        connectSource: () => Promise.reject(new Error('never reached')),
        connectTarget: () => Promise.reject(new Error('never reached')),
        beforeRestore: () => Promise.reject(new Error('never reached')),
        signal: new AbortController().signal,
        pollMs: 10,
      }).catch((e: unknown) => e);
      expect(outcome).toBeInstanceOf(ReseedCommandError);
      expect(String((outcome as Error).message)).toMatch(
        /backup on .* failed 3 times: mariadb-backup --backup failed/,
      );
      expect(started).toEqual(Array(3).fill(`backup@${cluster.servers[0]!.address}`));
      const [row] = await db.query<{ attempt: number; state: string; command_id: string }>(
        'SELECT attempt, state, command_id FROM ongoing_failover.reseed_command WHERE opened_epoch = 999001',
      );
      expect(row).toMatchObject({ attempt: 3, state: 'failed', command_id: 'cmd-3' });
    } finally {
      await db.close();
    }
  });
});
