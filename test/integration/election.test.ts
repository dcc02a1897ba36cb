/**
 * The election on a real MariaDB server, as the watchdog user with its documented grants: many
 * participants on separate connections, re-invocation, dead followers, skewed clocks, stale epochs,
 * and coordination writes that stay out of replication.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type CoordinationDb, connectCoordinationDb } from '../../functions/election/db.js';
import { ensureSchema, insertSignal, runOperation } from '../../functions/election/protocol.js';
import { COORDINATION_SCHEMA } from '../../functions/election/schema.js';
import { formatElectionStatus, readOperation } from '../../functions/election/status.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import {
  type Endpoint,
  endpointOf,
  historyMasters,
  historyRows,
  liveCounts,
  openSessions,
  resetCoordination,
  runRound,
} from '../harness/election-fixtures.js';
import type { ParticipantConfig } from '../harness/election-participant.js';
import {
  buildParticipantBundle,
  type ParticipantBundle,
  type ParticipantProcess,
  spawnParticipant,
  stopParticipants,
} from '../harness/election-processes.js';

let cluster: Cluster;
let endpoint: Endpoint;
let bundle: ParticipantBundle;
let dir: string;
const sessions: CoordinationDb[] = [];
const children: ParticipantProcess[] = [];

beforeAll(async () => {
  cluster = await startCluster({ servers: 2, groups: 0 });
  endpoint = endpointOf(cluster.primary, cluster.credentials.watchdog);
  bundle = await buildParticipantBundle();
  dir = mkdtempSync(join(tmpdir(), 'election-test-'));
});

afterAll(async () => {
  await stopParticipants(children);
  bundle?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
  await cluster?.stop();
});

beforeEach(async () => {
  await resetCoordination(cluster.primary);
  // Create the tables up front: otherwise the first round also measures 50 concurrent CREATE TABLE IF
  // NOT EXISTS, and a participant stuck behind that DDL may arrive after the removal (it then reports
  // 'finished-elsewhere', which is right, but not what these tests are about).
  const db = await connectCoordinationDb(endpoint);
  try {
    await ensureSchema(db);
  } finally {
    await db.close();
  }
});

afterEach(async () => {
  await stopParticipants(children.splice(0));
  await Promise.all(sessions.splice(0).map((s) => s.close()));
});

async function open(n: number): Promise<CoordinationDb[]> {
  const list = await openSessions(endpoint, n);
  sessions.push(...list);
  return list;
}

function participantConfig(participant: string, extra: Partial<ParticipantConfig> = {}): ParticipantConfig {
  return {
    ...endpoint,
    participant,
    op: 'fail',
    leaseMs: 5000,
    followerTimeoutMs: 30_000,
    pollMs: 50,
    targ: '127.0.0.1:3307',
    routerFile: join(dir, `${participant.replace(/[^A-Za-z0-9]/g, '_')}.router`),
    waitGo: true,
    ...extra,
  };
}

/** Waits (server clock) until the current operation's lease has expired. */
async function waitForExpiredLease(): Promise<void> {
  for (;;) {
    const rows = await cluster.primary.query<{ expired: number }[]>(
      `SELECT lease_until < NOW(6) AS expired FROM ${COORDINATION_SCHEMA}.operation`,
    );
    if (Number(rows[0]?.expired) === 1) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function spawn(config: ParticipantConfig, mode: 'tsx' | 'bundle' = 'bundle'): ParticipantProcess {
  const p = spawnParticipant(config, mode === 'tsx' ? { mode: 'tsx' } : { mode: 'bundle', bundle });
  children.push(p);
  return p;
}

describe('election among participants on separate connections', () => {
  it.each([2, 10, 50])(
    'elects exactly one master among %i participants, every follower writes FOOK, and a second round starts clean',
    async (n) => {
      const dbs = await open(n);
      const epochs: number[] = [];
      for (const round of [1, 2]) {
        const { reports, switched, targ } = await runRound(dbs, `r${round}-p`);
        const masters = reports.filter((r) => r.role === 'master');
        const followers = reports.filter((r) => r.role === 'follower');
        const summary = reports.map((r) => `${r.participant}:${r.role}:${r.outcome}:${r.epoch}`);
        expect(masters, summary.join(' ')).toHaveLength(1);
        expect(masters[0]!.outcome).toBe('completed');
        expect(followers, summary.join(' ')).toHaveLength(n - 1);
        expect(
          followers.filter((f) => f.outcome !== 'followed').map((f) => `${f.participant}:${f.outcome}`),
        ).toEqual([]);
        expect([...switched.values()]).toEqual(Array(n - 1).fill(targ));
        expect(new Set(reports.map((r) => r.epoch)).size).toBe(1);
        epochs.push(reports[0]!.epoch!);
        expect(await liveCounts(cluster.primary)).toEqual({ operations: 0, signals: 0 });

        const rows = (await historyRows(cluster.primary)).filter((r) => r.epoch === reports[0]!.epoch);
        const count = (sig: string) => rows.filter((r) => r.sig === sig).length;
        expect({
          SCAN: count('SCAN'),
          MAST: count('MAST'),
          OPER: count('OPER'),
          TARG: count('TARG'),
        }).toEqual({
          SCAN: n,
          MAST: 1,
          OPER: 1,
          TARG: 1,
        });
        expect({ FOLO: count('FOLO'), FOOK: count('FOOK'), MAOK: count('MAOK') }).toEqual({
          FOLO: n - 1,
          FOOK: n - 1,
          MAOK: 1,
        });
        // The seed's rule: the master is the participant of the first SCAN (lowest id).
        const firstScan = rows.filter((r) => r.sig === 'SCAN').sort((a, b) => a.id - b.id)[0]!;
        expect(masters[0]!.participant).toBe(firstScan.participant);
        expect(rows.find((r) => r.sig === 'OPER')?.value).toBe('fail');
        expect(masters[0]!.signals.map((s) => s.signal)).toEqual(['SCAN', 'MAST', 'OPER', 'TARG', 'MAOK']);
      }
      expect(epochs[1]).toBe(epochs[0]! + 1);
    },
  );

  it('does not start a second operation when the one it was called for was removed before it joined', async () => {
    const [slowDb, a, b] = await open(3);
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let queries = 0;
    // The same server session, held back after its first statement (the call's start by the server clock).
    const slow: CoordinationDb = {
      query: async (sql, params) => {
        queries += 1;
        if (queries === 2) await gate;
        return slowDb!.query(sql, params);
      },
      execute: (sql, params) => slowDb!.execute(sql, params),
      close: () => slowDb!.close(),
    } as CoordinationDb;
    const late = runOperation({
      db: slow,
      participant: 'late@host',
      op: 'fail',
      leaseMs: 5000,
      followerTimeoutMs: 30_000,
      pollMs: 20,
      asMaster: async () => {},
      asFollower: async () => {},
    });
    while (queries < 2) await new Promise((r) => setTimeout(r, 10));
    const { reports } = await runRound([a!, b!], 'quick-');
    expect(reports.filter((r) => r.role === 'master')).toHaveLength(1);
    release();
    const report = await late;
    expect(report).toMatchObject({ role: 'observer', outcome: 'finished-elsewhere', signals: [] });
    expect(await liveCounts(cluster.primary)).toEqual({ operations: 0, signals: 0 });
    expect(new Set((await historyRows(cluster.primary)).map((r) => r.opened_epoch)).size).toBe(1);
  });

  it('logs every signal with its epoch and the server-clock time since the first SCAN', async () => {
    const dbs = await open(3);
    const logged: { participant: string; epoch: number; signal: string; msSinceFirstScan: number }[] = [];
    const { reports } = await runRound(dbs, 'log-', { onSignal: (e) => logged.push(e) });
    expect(logged).toHaveLength(3 + 4 + 2 * 2); // 3 SCAN; MAST OPER TARG MAOK; FOLO+FOOK twice
    const epoch = reports[0]!.epoch;
    expect(logged.every((e) => e.epoch === epoch && e.msSinceFirstScan >= 0)).toBe(true);
    const masterReport = reports.find((r) => r.role === 'master')!;
    const maok = masterReport.signals.find((s) => s.signal === 'MAOK')!;
    expect(maok.msSinceFirstScan).toBeGreaterThan(0);
    expect(masterReport.timings.firstScanToRemovalMs).toBeGreaterThanOrEqual(maok.msSinceFirstScan);
  });

  it('keeps coordination writes out of the binary log and off the replica', async () => {
    const before = await cluster.gtidState(cluster.primary);
    const dbs = await open(3);
    await runRound(dbs, 'bin-');
    const after = await cluster.gtidState(cluster.primary);
    expect(after.binlogPos).toBe(before.binlogPos);
    await cluster.writeSomething();
    await cluster.waitForReplication(cluster.replicas[0]!);
    const onReplica = await cluster.replicas[0]!.query<{ n: number }[]>(
      `SELECT COUNT(*) AS n FROM information_schema.schemata WHERE schema_name = '${COORDINATION_SCHEMA}'`,
    );
    expect(Number(onReplica[0]?.n)).toBe(0);
  });

  it('shows an ongoing operation and its signals for repl-watchdog status', async () => {
    const [masterDb, followerDb, statusDb] = await open(3);
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    let targWritten!: () => void;
    const targDone = new Promise<void>((r) => {
      targWritten = r;
    });
    const master = runOperation({
      db: masterDb!,
      participant: 'status-master',
      op: 'switch',
      leaseMs: 2000,
      followerTimeoutMs: 2000,
      pollMs: 20,
      asMaster: async (ctx) => {
        await ctx.writeTarg('127.0.0.1:3399');
        targWritten();
        await released;
      },
      asFollower: async () => {},
    });
    await targDone;
    const status = await readOperation(statusDb!);
    expect(status.ongoing).toMatchObject({ op: 'switch', master: 'status-master', leaseExpired: false });
    expect(status.ongoing!.signals.map((s) => `${s.sig} ${s.value}`)).toEqual([
      'SCAN status-master',
      'MAST status-master',
      'OPER switch',
      'TARG 127.0.0.1:3399',
    ]);
    const text = formatElectionStatus(status).join('\n');
    expect(text).toContain('operation switch');
    expect(text).toContain('TARG 127.0.0.1:3399');
    release();
    expect((await master).outcome).toBe('completed');
    const after = await readOperation(statusDb!);
    expect(after.ongoing).toBeNull();
    expect(after.recent[0]).toMatchObject({ outcome: 'completed', closedBy: 'status-master' });
    void followerDb;
  });
});

describe('election among separate processes', () => {
  it.each([
    [2, 'tsx' as const],
    [10, 'bundle' as const],
  ])(
    'elects exactly one master among %i processes (%s), every follower switches its router, then a second round',
    async (n, mode) => {
      // Each process takes part in two operations in a row (one start-up, two rounds).
      const procs = Array.from({ length: n }, (_, i) =>
        // The master's work lasts until every other process has joined: a process the loaded machine
        // schedules late still finds the operation open and follows it instead of arriving after its end.
        spawn(participantConfig(`proc-${i}`, { rounds: 2, awaitFollowers: n - 1 }), mode),
      );
      await Promise.all(procs.map((p) => p.waitFor('ready')));
      for (const round of [1, 2]) {
        for (const p of procs) p.go();
        const reports = await Promise.all(procs.map((p) => p.waitFor('report', (e) => e.round === round)));
        const summary = reports.map((r) => `${r.participant}:${r.role}:${r.outcome}:${r.epoch}`).join(' ');
        expect(
          reports.filter((r) => r.role === 'master'),
          summary,
        ).toHaveLength(1);
        expect(
          reports.filter((r) => r.role === 'follower' && r.outcome === 'followed'),
          summary,
        ).toHaveLength(n - 1);
        for (const p of procs)
          expect(readFileSync(p.config.routerFile, 'utf8').trim()).toBe('127.0.0.1:3307');
        expect(await liveCounts(cluster.primary)).toEqual({ operations: 0, signals: 0 });
      }
      expect((await Promise.all(procs.map((p) => p.exited))).every((e) => e.code === 0)).toBe(true);
      for (const [, masters] of historyMasters(await historyRows(cluster.primary)))
        expect(masters).toHaveLength(1);
    },
  );
});

describe('crash safety', () => {
  it('lets a master invoked again after a crash carry on in the same epoch without waiting for the lease', async () => {
    const dead = spawn(participantConfig('group-a@host', { dieAfter: 'TARG', leaseMs: 60_000 }));
    await dead.waitFor('ready');
    dead.go();
    const targ = await dead.waitFor('signal', (e) => e.signal === 'TARG');
    expect((await dead.exited).signal).toBe('SIGKILL');

    const [db] = await open(1);
    let resumed: unknown;
    const report = await runOperation({
      db: db!,
      participant: 'group-a@host',
      op: 'fail',
      leaseMs: 60_000,
      followerTimeoutMs: 1000,
      pollMs: 20,
      asMaster: async (ctx) => {
        resumed = ctx.resumed;
      },
      asFollower: async () => {},
    });
    expect(report).toMatchObject({ role: 'master', outcome: 'completed', epoch: targ.epoch, tookOver: [] });
    expect(resumed).toEqual({ targ: '127.0.0.1:3307' });
    // MAST, OPER and TARG were not written twice.
    expect(report.signals.map((s) => s.signal)).toEqual(['MAOK']);
  });

  it('lets a follower invoked again after a crash find its FOLO and finish with FOOK', async () => {
    const [masterDb, followerDb] = await open(2);
    let followerDied!: () => void;
    const died = new Promise<void>((r) => {
      followerDied = r;
    });
    const follower = spawn(
      participantConfig('group-b@host', { dieAfter: 'FOLO', followerTimeoutMs: 60_000 }),
    );
    await follower.waitFor('ready');
    const master = runOperation({
      db: masterDb!,
      participant: 'group-a@host',
      op: 'fail',
      leaseMs: 5000,
      followerTimeoutMs: 60_000,
      pollMs: 20,
      asMaster: async (ctx) => {
        follower.go();
        await died; // the follower has written SCAN and FOLO, then crashed
        await ctx.writeTarg('127.0.0.1:3307');
      },
      asFollower: async () => {},
    });
    await follower.waitFor('signal', (e) => e.signal === 'FOLO');
    await follower.exited;
    followerDied();
    const switched: string[] = [];
    const again = await runOperation({
      db: followerDb!,
      participant: 'group-b@host',
      op: 'fail',
      leaseMs: 5000,
      followerTimeoutMs: 60_000,
      pollMs: 20,
      asMaster: async () => {
        throw new Error('must not become master');
      },
      asFollower: async (t) => {
        switched.push(t);
      },
    });
    expect(again).toMatchObject({ role: 'follower', outcome: 'followed', target: '127.0.0.1:3307' });
    expect(again.signals.map((s) => s.signal)).toEqual(['FOOK']);
    expect(switched).toEqual(['127.0.0.1:3307']);
    const m = await master;
    expect(m).toMatchObject({ role: 'master', outcome: 'completed' });
    expect(m.followers).toMatchObject({ done: ['group-b@host'], timedOut: [] });
  });

  it('finishes after the follower time-out when a follower dies', async () => {
    const [masterDb] = await open(1);
    const follower = spawn(participantConfig('silent@host', { hangAsFollower: true }));
    await follower.waitFor('ready');
    let started!: () => void;
    const masterStarted = new Promise<void>((r) => {
      started = r;
    });
    const master = runOperation({
      db: masterDb!,
      participant: 'master@host',
      op: 'fail',
      leaseMs: 5000,
      followerTimeoutMs: 1500,
      pollMs: 20,
      asMaster: async (ctx) => {
        started();
        await follower.waitFor('signal', (e) => e.signal === 'FOLO');
        follower.child.kill('SIGKILL'); // dies after FOLO, before FOOK
        await follower.exited;
        await ctx.writeTarg('127.0.0.1:3307');
      },
      asFollower: async () => {},
    });
    await masterStarted;
    follower.go();
    const report = await master;
    expect(report).toMatchObject({ role: 'master', outcome: 'completed-with-timeouts' });
    expect(report.followers).toEqual({ followers: ['silent@host'], done: [], timedOut: ['silent@host'] });
    const rows = await historyRows(cluster.primary);
    const maok = rows.find((r) => r.sig === 'MAOK')!;
    // Removed no earlier than MAOK + follower time-out, by the server's clock.
    expect(maok.closed_ms - maok.at_ms).toBeGreaterThanOrEqual(1500);
    expect(rows.every((r) => r.outcome === 'completed-with-timeouts')).toBe(true);
  });

  it('reports a follower whose router switch failed, and the master names it as timed out', async () => {
    const [m, f] = await open(2);
    // A lease far longer than a loaded machine may take to start the follower: no takeover here.
    const common = { op: 'fail' as const, leaseMs: 60_000, followerTimeoutMs: 1000, pollMs: 20 };
    let mastWritten!: () => void;
    const isMaster = new Promise<void>((r) => {
      mastWritten = r;
    });
    let foloWritten!: () => void;
    const joined = new Promise<void>((r) => {
      foloWritten = r;
    });
    const master = runOperation({
      ...common,
      db: m!,
      participant: 'm@host',
      onSignal: (e) => {
        if (e.signal === 'MAST') mastWritten();
      },
      asMaster: async (ctx) => {
        // The master's work lasts until the follower has joined: a master done before anyone joined
        // removes the operation, and a follower that comes later (a loaded machine) finds it finished.
        await joined;
        await ctx.writeTarg('127.0.0.1:3307');
      },
      asFollower: async () => {},
    });
    // The master has claimed; join as a follower whose routers refuse to switch.
    await isMaster;
    const follower = await runOperation({
      ...common,
      db: f!,
      participant: 'f@host',
      onSignal: (e) => {
        if (e.signal === 'FOLO') foloWritten();
      },
      asMaster: async () => {},
      asFollower: async () => {
        throw new Error('router script failed');
      },
    });
    expect(follower).toMatchObject({
      role: 'follower',
      outcome: 'follower-failed',
      target: '127.0.0.1:3307',
    });
    expect(follower.error).toMatchObject({ message: 'router script failed' });
    const report = await master;
    expect(report).toMatchObject({ role: 'master', outcome: 'completed-with-timeouts' });
    expect(report.followers?.timedOut).toEqual(['f@host']);
  });

  it('hands the lease back when the caller aborts, so the next invocation takes over at once', async () => {
    const [m, next] = await open(2);
    const controller = new AbortController();
    const aborted = await runOperation({
      db: m!,
      participant: 'deadline@host',
      op: 'fail',
      leaseMs: 600_000, // a lease that would otherwise hold the cluster for ten minutes
      followerTimeoutMs: 1000,
      pollMs: 20,
      signal: controller.signal,
      asMaster: async (ctx) => {
        await ctx.writeTarg('127.0.0.1:3307');
        controller.abort(); // the Lambda deadline comes near
        // The work notices through ctx.signal (already aborted here: abort events fire synchronously).
        if (!ctx.signal.aborted)
          await new Promise((r) => ctx.signal.addEventListener('abort', r, { once: true }));
      },
      asFollower: async () => {},
    });
    expect(aborted).toMatchObject({ role: 'master', outcome: 'aborted' });
    let inherited: unknown;
    const report = await runOperation({
      db: next!,
      participant: 'next@host',
      op: 'fail',
      leaseMs: 5000,
      followerTimeoutMs: 1000,
      pollMs: 20,
      asMaster: async (ctx) => {
        inherited = ctx.inherited;
      },
      asFollower: async () => {},
    });
    expect(report).toMatchObject({
      role: 'master',
      outcome: 'completed',
      tookOver: [Number(aborted.epoch) + 1],
    });
    expect(inherited).toMatchObject({ master: 'deadline@host', targ: '127.0.0.1:3307' });
  });

  it('ignores every write of a master that was paused past its lease, and its successor completes', async () => {
    const old = spawn(participantConfig('paused@host', { masterWorkMs: 4000, leaseMs: 1500 }));
    await old.waitFor('ready');
    old.go();
    const targ = await old.waitFor('signal', (e) => e.signal === 'TARG');
    old.child.kill('SIGSTOP'); // frozen, not dead: it will wake up and try to go on
    try {
      await waitForExpiredLease();
      const [db] = await open(1);
      const successor = await runOperation({
        db: db!,
        participant: 'successor@host',
        op: 'fail',
        leaseMs: 5000,
        followerTimeoutMs: 1000,
        pollMs: 20,
        asMaster: async (ctx) => {
          expect(ctx.inherited).toEqual({ epoch: targ.epoch, master: 'paused@host', targ: '127.0.0.1:3307' });
          await ctx.writeTarg('127.0.0.1:3308');
        },
        asFollower: async () => {},
      });
      expect(successor).toMatchObject({
        role: 'master',
        outcome: 'completed',
        tookOver: [Number(targ.epoch) + 1],
      });
    } finally {
      old.child.kill('SIGCONT');
    }
    const report = await old.waitFor('report');
    expect(report).toMatchObject({ role: 'master', outcome: 'lost-lease' });
    const rows = await historyRows(cluster.primary);
    // The old master never wrote MAOK: its late write was refused by the epoch condition.
    expect(rows.filter((r) => r.sig === 'MAOK').map((r) => r.participant)).toEqual(['successor@host']);
    for (const [, masters] of historyMasters(rows)) expect(masters).toHaveLength(1);
  });

  it('ignores rows of a stale epoch: a stale TARG is not followed and a stale FOOK is not counted', async () => {
    const dead = spawn(participantConfig('stale@host', { dieAfter: 'MAST', leaseMs: 1000 }));
    await dead.waitFor('ready');
    dead.go();
    const mast = await dead.waitFor('signal', (e) => e.signal === 'MAST');
    await dead.exited;
    const staleEpoch = Number(mast.epoch);
    await waitForExpiredLease();
    // Rows of the old epoch as a late writer could leave them (written directly, bypassing the protocol):
    // a TARG to a wrong server, a FOOK for f1 and a MAOK. Once epoch + 1 is open they are stale.
    await cluster.primary.query(
      `INSERT INTO ${COORDINATION_SCHEMA}.status (epoch, sig, value, participant, created_at) VALUES
         (?, 'TARG', '10.9.9.9:3306', 'stale@host', NOW(6)), (?, 'FOOK', 'f1', 'f1', NOW(6)),
         (?, 'MAOK', 'stale@host', 'stale@host', NOW(6))`,
      [staleEpoch, staleEpoch, staleEpoch],
    );
    const [a, b, writer] = await open(3);
    const switched = new Map<string, string>();
    let mastWritten!: () => void;
    const successorIsMaster = new Promise<void>((r) => {
      mastWritten = r;
    });
    let f1Joined!: () => void;
    const f1HasJoined = new Promise<void>((r) => {
      f1Joined = r;
    });
    const run = (participant: string, db: CoordinationDb) =>
      runOperation({
        db,
        participant,
        op: 'fail',
        leaseMs: 5000,
        followerTimeoutMs: 60_000,
        pollMs: 20,
        onSignal: (e) => {
          if (e.signal === 'MAST') mastWritten();
          if (e.signal === 'FOLO' && participant === 'f1') f1Joined();
        },
        asMaster: async (ctx) => {
          await ctx.writeTarg('127.0.0.1:3310');
          // The master's work lasts until f1 has joined, so that on a loaded machine the operation
          // cannot end before f1 arrives (f1 would then open a new one instead of following).
          await f1HasJoined;
        },
        asFollower: async (t) => {
          switched.set(participant, t);
        },
      });
    const successor = run('successor', a!);
    await successorIsMaster;
    const f1 = await run('f1', b!);
    const master = await successor;
    expect(master).toMatchObject({ role: 'master', epoch: staleEpoch + 1, tookOver: [staleEpoch + 1] });
    expect(f1).toMatchObject({
      role: 'follower',
      outcome: 'followed',
      epoch: staleEpoch + 1,
      target: '127.0.0.1:3310',
    });
    expect(f1.signals.map((s) => `${s.epoch}:${s.signal}`)).toEqual(
      ['SCAN', 'FOLO', 'FOOK'].map((sig) => `${staleEpoch + 1}:${sig}`),
    );
    expect([...switched.entries()]).toEqual([['f1', '127.0.0.1:3310']]);
    // Completed, not timed out: the master counted f1's FOOK of the new epoch, not the stale one.
    expect(master.outcome).toBe('completed');
    expect(master.followers).toMatchObject({ done: ['f1'], timedOut: [] });
    // And a late write with the old epoch now inserts nothing.
    expect(
      await insertSignal(writer!, {
        epoch: staleEpoch,
        sig: 'TARG',
        value: '10.9.9.9:3306',
        participant: 'stale@host',
        asMaster: true,
      }),
    ).toMatchObject({ written: false });
  });
});

describe('local clock', () => {
  it('changes nothing when a participant runs hours ahead or behind', async () => {
    // A healthy master holds the lease for two lease periods, renewing it; participants whose wall
    // clocks are 6 hours ahead and behind join meanwhile: they must follow, never take over.
    const master = spawn(participantConfig('ontime@host', { masterWorkMs: 6000, leaseMs: 3000 }));
    await master.waitFor('ready');
    master.go();
    await master.waitFor('signal', (e) => e.signal === 'TARG');
    const ahead = spawn(participantConfig('ahead@host', { clockSkewMs: 6 * 3600_000, leaseMs: 3000 }));
    const behind = spawn(participantConfig('behind@host', { clockSkewMs: -6 * 3600_000, leaseMs: 3000 }));
    await Promise.all([ahead.waitFor('ready'), behind.waitFor('ready')]);
    ahead.go();
    behind.go();
    const [m, a, b] = await Promise.all([master, ahead, behind].map((p) => p.waitFor('report')));
    expect(m).toMatchObject({ role: 'master', outcome: 'completed', tookOver: [] });
    expect(a).toMatchObject({ role: 'follower', outcome: 'followed', epoch: m!.epoch, tookOver: [] });
    expect(b).toMatchObject({ role: 'follower', outcome: 'followed', epoch: m!.epoch, tookOver: [] });
    // Their reports carry their own (wrong) clock; the audit carries the server's.
    expect(Date.parse(String(a!.startedAt)) - Date.now()).toBeGreaterThan(5 * 3600_000);
    const rows = await historyRows(cluster.primary);
    expect(new Set(rows.map((r) => r.epoch))).toEqual(new Set([m!.epoch]));
    const span = Math.max(...rows.map((r) => r.at_ms)) - Math.min(...rows.map((r) => r.at_ms));
    expect(span).toBeLessThan(3600_000);
  });

  it('computes the lease from the server clock even when the local clock is hours off', async () => {
    const [db, probe] = await open(2);
    const realNow = Date.now;
    let remaining = Number.NaN;
    Date.now = () => realNow() + 9 * 3600_000;
    try {
      await runOperation({
        db: db!,
        participant: 'skewed@host',
        op: 'repl',
        leaseMs: 2000,
        followerTimeoutMs: 1000,
        pollMs: 20,
        now: () => Date.now(),
        asMaster: async () => {
          const [row] = await probe!.query<{ us: number }>(
            `SELECT TIMESTAMPDIFF(MICROSECOND, NOW(6), lease_until) AS us FROM ${COORDINATION_SCHEMA}.operation`,
          );
          remaining = Number(row?.us) / 1000;
        },
        asFollower: async () => {},
      });
    } finally {
      Date.now = realNow;
    }
    expect(remaining).toBeGreaterThan(0);
    expect(remaining).toBeLessThanOrEqual(2000);
  });
});
