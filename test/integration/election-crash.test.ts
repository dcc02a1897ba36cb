/**
 * The operation master is SIGKILLed right after each signal it writes. Whatever the moment, the
 * operation must end (completed by the followers' takeover, or by the next invocation), with never two
 * masters in one epoch. Times come from the server's clock; the takeover delay is printed, not asserted.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { connectCoordinationDb } from '../../functions/election/db.js';
import { runOperation } from '../../functions/election/protocol.js';
import { COORDINATION_SCHEMA, type SignalName } from '../../functions/election/schema.js';
import { readOperation } from '../../functions/election/status.js';
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
import { describeFlavors, flavorClusterOptions } from '../harness/flavors.js';

describeFlavors('election crash safety', (flavor) => {
  const LEASE_MS = 2000;
  const TARG = '127.0.0.1:3307';

  let cluster: Cluster;
  let endpoint: Endpoint;
  let bundle: ParticipantBundle;
  let dir: string;
  const children: ParticipantProcess[] = [];

  beforeAll(async () => {
    cluster = await startCluster({ servers: 2, groups: 0, ...flavorClusterOptions(flavor) });
    endpoint = endpointOf(cluster.primary, cluster.credentials.watchdog);
    bundle = await buildParticipantBundle();
    dir = mkdtempSync(join(tmpdir(), 'election-crash-'));
  });

  afterAll(async () => {
    await stopParticipants(children);
    bundle?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await cluster?.stop();
  });

  beforeEach(async () => {
    await resetCoordination(cluster.primary);
  });

  afterEach(async () => {
    await stopParticipants(children.splice(0));
  });

  function spawn(participant: string, extra: Partial<ParticipantConfig> = {}): ParticipantProcess {
    const config: ParticipantConfig = {
      ...endpoint,
      participant,
      op: 'fail',
      leaseMs: LEASE_MS,
      followerTimeoutMs: 5000,
      pollMs: 25,
      targ: TARG,
      routerFile: join(dir, `${participant.replace(/[^A-Za-z0-9]/g, '_')}.router`),
      waitGo: true,
      ...extra,
    };
    const p = spawnParticipant(config, { mode: 'bundle', bundle });
    children.push(p);
    return p;
  }

  const MASTER_SIGNALS: SignalName[] = ['SCAN', 'MAST', 'OPER', 'TARG', 'MAOK'];

  describe('operation master killed with SIGKILL', () => {
    it.each(MASTER_SIGNALS)(
      'right after %s: the operation still ends, taken over by a follower',
      async (sig) => {
        const master = spawn(`crash-${sig}@host`, { dieAfter: sig });
        // The takeover master's work lasts 1.5 s, as a real operation's does: the other follower, scheduled
        // late on a loaded machine, still finds the operation open and follows it.
        const followers = [
          spawn(`f1-${sig}@host`, { masterWorkMs: 1500 }),
          spawn(`f2-${sig}@host`, { masterWorkMs: 1500 }),
        ];
        await Promise.all([master, ...followers].map((p) => p.waitFor('ready')));
        master.go();
        // The doomed participant SCANs first, so it is the one elected.
        await master.waitFor('signal', (e) => e.signal === 'SCAN');
        for (const f of followers) f.go();
        const death = await master.exited;
        expect(death.signal).toBe('SIGKILL');
        const lastSignal = master.events.filter((e) => e.event === 'signal').at(-1)!;
        expect(lastSignal.signal).toBe(sig);
        const killedAtMs = Number(lastSignal.atMs);

        // The followers stay until the operation is removed: when the dead master's lease expires, one of
        // them takes over (epoch + 1), runs the master's work again and removes the operation.
        const reports = await Promise.all(followers.map((f) => f.waitFor('report')));
        const roles = reports.map((r) => `${r.role}:${r.outcome}`).sort();
        expect(roles).toEqual(['follower:followed', 'master:completed']);
        expect(await liveCounts(cluster.primary)).toEqual({ operations: 0, signals: 0 });

        const rows = await historyRows(cluster.primary);
        expect(rows.every((r) => r.outcome === 'completed')).toBe(true);
        // Never two masters in one epoch (a loaded machine may need more than one takeover; each is clean).
        for (const [, list] of historyMasters(rows)) expect(list).toHaveLength(1);
        const crashedEpoch = Number(lastSignal.epoch);
        expect(
          rows.some(
            (r) =>
              r.sig === 'MAST' && r.epoch === crashedEpoch && r.participant !== master.config.participant,
          ),
        ).toBe(false);
        // The restart: the takeover epoch's first signal, by the server's clock. How soon after the kill
        // it comes is a figure (printed), not asserted: a loaded machine stalls processes for seconds.
        const restartedAt = Math.min(...rows.filter((r) => r.epoch === crashedEpoch + 1).map((r) => r.at_ms));
        expect(Number.isFinite(restartedAt)).toBe(true);
        console.log(
          `killed after ${sig}: taken over ${Math.round(restartedAt - killedAtMs)} ms after the kill (lease ${LEASE_MS} ms)`,
        );
        const finalMaster = reports.find((r) => r.role === 'master')!;
        expect(Number(finalMaster.epoch)).toBeGreaterThan(crashedEpoch);

        for (const f of followers) expect(readFileSync(f.config.routerFile, 'utf8').trim()).toBe(TARG);
      },
    );
  });

  describe('coordination server lost mid-operation', () => {
    it('stops the master and its followers, and the other server starts clean', async () => {
      const primary = cluster.primary;
      const replica = cluster.replicas[0]!;
      const [masterDb, followerDb] = await Promise.all([
        connectCoordinationDb(endpoint),
        connectCoordinationDb(endpoint),
      ]);
      let masterStopped = false;
      let followerJoined!: () => void;
      const joinedPromise = new Promise<void>((r) => {
        followerJoined = r;
      });
      try {
        const master = runOperation({
          db: masterDb,
          participant: 'm@host',
          op: 'fail',
          leaseMs: 3000,
          followerTimeoutMs: 5000,
          pollMs: 25,
          asMaster: async (ctx) => {
            await joinedPromise;
            await primary.stop(); // the coordination server goes away before TARG
            await new Promise((r) =>
              ctx.signal.aborted ? r(null) : ctx.signal.addEventListener('abort', r, { once: true }),
            );
            masterStopped = true;
          },
          asFollower: async () => {},
        });
        // Join once the master is elected, so the follower is waiting for TARG when the server goes.
        while ((await readMaster()) !== 'm@host') await new Promise((r) => setTimeout(r, 20));
        const follower = runOperation({
          db: followerDb,
          participant: 'f@host',
          op: 'fail',
          leaseMs: 3000,
          followerTimeoutMs: 5000,
          pollMs: 25,
          onSignal: (e) => {
            if (e.signal === 'FOLO') followerJoined();
          },
          asMaster: async () => {},
          asFollower: async () => {},
        });
        const [m, f] = await Promise.all([master, follower]);
        expect(masterStopped).toBe(true);
        expect(m).toMatchObject({ role: 'master', outcome: 'coordination-lost' });
        expect(f).toMatchObject({ role: 'follower', outcome: 'coordination-lost' });
        expect(m.signals.map((s) => s.signal)).not.toContain('TARG');
      } finally {
        await Promise.all([masterDb.close(), followerDb.close()]);
        if (!primary.isRunning()) await primary.start();
      }
      // Nothing of the election was replicated: the next invocation, meeting on the other server (where
      // the routers go when the primary dies), finds no operation and runs a clean one there.
      const other = endpointOf(replica, cluster.credentials.watchdog);
      const dbs = await openSessions(other, 2);
      try {
        const onReplica = await readOperation(dbs[0]!);
        expect(onReplica.ongoing).toBeNull();
        const { reports } = await runRound(dbs, 'after-');
        expect(reports.map((r) => `${r.role}:${r.outcome}`).sort()).toEqual([
          'follower:followed',
          'master:completed',
        ]);
      } finally {
        await Promise.all(dbs.map((d) => d.close()));
      }
    });
  });

  async function readMaster(): Promise<string | null> {
    const rows = await cluster.primary
      .query<{ master: string | null }[]>(`SELECT master FROM ${COORDINATION_SCHEMA}.operation WHERE id = 1`)
      .catch(() => []); // the master's first call may not have created the tables yet
    return rows[0]?.master ?? null;
  }
});
