/**
 * The operation master is SIGKILLed right after each signal it writes. Whatever the moment, the
 * operation must end (completed by the followers' takeover, or by the next invocation) within the
 * lease plus a small margin, with never two masters in one epoch. Times come from the server's clock.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SignalName } from '../../functions/election/schema.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import {
  type Endpoint,
  endpointOf,
  historyMasters,
  historyRows,
  liveCounts,
  resetCoordination,
} from '../harness/election-fixtures.js';
import type { ParticipantConfig } from '../harness/election-participant.js';
import {
  buildParticipantBundle,
  type ParticipantBundle,
  type ParticipantProcess,
  spawnParticipant,
  stopParticipants,
} from '../harness/election-processes.js';

const LEASE_MS = 2000;
/** Poll interval, one takeover round trip and process scheduling on a loaded 2-core machine. */
const MARGIN_MS = 2000;
const TARG = '127.0.0.1:3307';

let cluster: Cluster;
let endpoint: Endpoint;
let bundle: ParticipantBundle;
let dir: string;
const children: ParticipantProcess[] = [];

beforeAll(async () => {
  cluster = await startCluster({ servers: 2, groups: 0 });
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
    'right after %s: the operation still ends within the lease plus a margin',
    async (sig) => {
      const master = spawn(`crash-${sig}@host`, { dieAfter: sig });
      const followers = [spawn(`f1-${sig}@host`), spawn(`f2-${sig}@host`)];
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
          (r) => r.sig === 'MAST' && r.epoch === crashedEpoch && r.participant !== master.config.participant,
        ),
      ).toBe(false);
      // The restart: the takeover epoch's first signal, by the server's clock, within lease + margin of the kill.
      const restartedAt = Math.min(...rows.filter((r) => r.epoch === crashedEpoch + 1).map((r) => r.at_ms));
      const timeline = rows.map(
        (r) => `${r.epoch}:${r.sig}:${r.participant}:+${Math.round(r.at_ms - killedAtMs)}`,
      );
      expect(restartedAt - killedAtMs, timeline.join(' ')).toBeLessThanOrEqual(LEASE_MS + MARGIN_MS);
      const finalMaster = reports.find((r) => r.role === 'master')!;
      expect(Number(finalMaster.epoch)).toBeGreaterThan(crashedEpoch);

      for (const f of followers) expect(readFileSync(f.config.routerFile, 'utf8').trim()).toBe(TARG);
    },
  );
});
