/**
 * 50 participants as 50 separate processes started at the same moment (each connected first, then
 * released by one line on stdin), two rounds in a row. The participant script is bundled once with
 * esbuild so that 50 starts cost seconds, not the minute tsx would need on 2 cores.
 *
 * Its own suite: `npm run test:election-50` (CI runs it as a separate step). On a busy 2-core machine
 * 50 node processes take one to two minutes, too long for the default suite, which covers 2 and 10
 * processes and 50 participants on separate connections.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectCoordinationDb } from '../../functions/election/db.js';
import { ensureSchema } from '../../functions/election/protocol.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import { endpointOf, historyMasters, historyRows, liveCounts } from '../harness/election-fixtures.js';
import {
  buildParticipantBundle,
  type ParticipantBundle,
  type ParticipantProcess,
  spawnParticipant,
  stopParticipants,
} from '../harness/election-processes.js';

const N = 50;
let cluster: Cluster;
let bundle: ParticipantBundle;
let dir: string;
let procs: ParticipantProcess[] = [];

beforeAll(async () => {
  if (!enabled) return;
  cluster = await startCluster({ servers: 2, groups: 0 });
  bundle = await buildParticipantBundle();
  dir = mkdtempSync(join(tmpdir(), 'election-50-'));
  // Tables first, so that round 1 is the election and not 50 concurrent CREATE TABLE IF NOT EXISTS.
  const db = await connectCoordinationDb(endpointOf(cluster.primary, cluster.credentials.watchdog));
  try {
    await ensureSchema(db);
  } finally {
    await db.close();
  }
});

afterAll(async () => {
  await stopParticipants(procs);
  bundle?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
  await cluster?.stop();
});

const enabled = process.env.ELECTION_50_PROCESSES === '1';

describe.runIf(enabled)('election among 50 processes', () => {
  it('elects exactly one master per round, every follower writes FOOK, the operation is removed, twice', async () => {
    const endpoint = endpointOf(cluster.primary, cluster.credentials.watchdog);
    procs = Array.from({ length: N }, (_, i) =>
      spawnParticipant(
        {
          ...endpoint,
          participant: `group${i}@proc`,
          op: 'fail',
          leaseMs: 10_000,
          followerTimeoutMs: 60_000,
          pollMs: 100,
          targ: '127.0.0.1:3310',
          routerFile: join(dir, `group${i}.router`),
          waitGo: true,
          rounds: 2,
          // The master's work lasts until every other process has joined: on 2 cores, 50 processes
          // released at once are scheduled over seconds, and a late one must still find the operation open.
          awaitFollowers: N - 1,
        },
        { mode: 'bundle', bundle },
      ),
    );
    await Promise.all(procs.map((p) => p.waitFor('ready')));
    const epochs: number[] = [];
    for (const round of [1, 2]) {
      for (const p of procs) p.go();
      const reports = await Promise.all(procs.map((p) => p.waitFor('report', (e) => e.round === round)));
      const summary = reports.map((r) => `${r.participant}:${r.role}:${r.outcome}`).join(' ');
      expect(
        reports.filter((r) => r.role === 'master' && r.outcome === 'completed'),
        summary,
      ).toHaveLength(1);
      expect(
        reports.filter((r) => r.role === 'follower' && r.outcome === 'followed'),
        summary,
      ).toHaveLength(N - 1);
      expect(new Set(reports.map((r) => r.epoch)).size).toBe(1);
      epochs.push(Number(reports[0]!.epoch));
      expect(await liveCounts(cluster.primary)).toEqual({ operations: 0, signals: 0 });
      for (const p of procs) expect(readFileSync(p.config.routerFile, 'utf8').trim()).toBe('127.0.0.1:3310');
      const rows = (await historyRows(cluster.primary)).filter((r) => r.epoch === epochs.at(-1));
      expect(rows.filter((r) => r.sig === 'FOOK')).toHaveLength(N - 1);
    }
    expect(epochs[1]).toBe(epochs[0]! + 1);
    const masters = historyMasters(await historyRows(cluster.primary));
    expect([...masters.values()].map((m) => m.length)).toEqual([1, 1]);
    const exits = await Promise.all(procs.map((p) => p.exited));
    expect(exits.every((e) => e.code === 0)).toBe(true);
  });
});
