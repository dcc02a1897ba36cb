/**
 * Safety rule 7 at the step, not only at the analysis: no step that changes a server (fence, promote,
 * salvage, reseed) runs while any group's routers are unknown. The plan below is made while every
 * router answers (the primary died, the routers moved to the replica: promote-dead); then a group's
 * routers become unknown before the operation runs — its discovery finds no instance any more, or
 * its only router stops answering — and the operation must change nothing. Real servers and routers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { observe, targetFromConfig } from '../../functions/cluster/observe.js';
import { type Config, parseConfig } from '../../functions/config/schema.js';
import { analyze } from '../../functions/core/analysis.js';
import { plan } from '../../functions/core/planner.js';
import type { Snapshot } from '../../functions/core/snapshot.js';
import { executeOperation } from '../../functions/operations/execute.js';
import { openConfiguredStore } from '../../functions/operations/store.js';
import { sandboxRouterSwitch } from '../../functions/sandbox/drill.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import { pollUntil } from '../harness/wait.js';

let cluster: Cluster;
let config: Config;

beforeAll(async () => {
  cluster = await startCluster({ servers: 2, groups: 2, name: 'unknownguard' });
  config = parseConfig(
    {
      ...cluster.config(),
      timeouts: { connectMs: 5_000, queryMs: 10_000, deadlineMarginMs: 20_000 },
      election: { leaseMs: 10_000, followerTimeoutMs: 30_000, pollMs: 100 },
    },
    'unknownguard',
  );
}, 300_000);

afterAll(async () => {
  await cluster?.stop();
}, 120_000);

const cred = () => config.credentials.watchdog!;
const look = (c: Config): Promise<Snapshot> =>
  observe(targetFromConfig(c), {
    user: cred().user,
    password: cred().password,
    connectTimeoutMs: c.timeouts.connectMs,
    queryTimeoutMs: c.timeouts.queryMs,
  });

/** What a server-changing step would alter on the replica: its replication, read_only, GTID position. */
async function replicaState(): Promise<string> {
  const replica = cluster.servers[1]!;
  const status = await cluster.replicationStatus(replica);
  const [row] = await replica.query('SELECT @@read_only AS ro, @@gtid_current_pos AS pos');
  return JSON.stringify({ master: status?.Master_Port ?? null, ro: row?.ro, pos: row?.pos });
}

describe("an operation planned while every router answered, run after a group's routers became unknown", () => {
  let promoteDead: ReturnType<typeof plan>;
  let analysis: ReturnType<typeof analyze>;
  let snapshot: Snapshot;

  beforeAll(async () => {
    const [primary, replica] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
    await primary.kill9();
    await Promise.all(cluster.routers.map((r) => cluster.waitForRouterTarget(r, replica, 120_000)));
    snapshot = await pollUntil(
      () => look(config),
      (s) => analyze(s).code === 'PrimaryDead',
      { deadlineMs: 120_000, intervalMs: 1_000 },
    );
    analysis = analyze(snapshot);
    promoteDead = plan(analysis, { now: Date.now(), servers: config.servers.map((s) => s.id) });
  }, 300_000);

  const run = (c: Config) =>
    executeOperation(
      { config: c, groups: ['g1'], plan: promoteDead, analysis, snapshot },
      {
        routers: sandboxRouterSwitch(c),
        store: () => openConfiguredStore(c),
        observe: () => look(c),
      },
    );

  /** Runs the operation with `c` and shows that it refused and that the replica is as it was. */
  const runChangesNothing = async (c: Config): Promise<void> => {
    const before = await replicaState();
    const result = await run(c);
    expect(result.outcome, JSON.stringify(result.steps)).not.toBe('completed');
    const changed = result.steps.filter(
      (s) => ['Fence', 'Promote', 'Salvage', 'Reseed'].includes(s.kind) && s.outcome === 'done',
    );
    expect(changed).toEqual([]);
    expect(JSON.stringify(result)).toMatch(/refusing \w+: the routers of group g2 \(/);
    expect(await replicaState()).toBe(before);
  };

  it('is planned as promote-dead with a Promote step (the premise)', () => {
    expect(analysis.code).toBe('PrimaryDead');
    expect(promoteDead.operation).toBe('promote-dead');
    expect(promoteDead.steps.map((s) => s.kind)).toContain('Promote');
  });

  it('changes no server when the discovery of a group found no instance any more', async () => {
    // What discovery returns for a tag group with no running instance: the group, with no router.
    await runChangesNothing({
      ...config,
      groups: config.groups.map((g) => (g.name === 'g2' ? { ...g, routers: [] } : g)),
    });
  }, 180_000);

  it("changes no server when none of a group's routers answers", async () => {
    const g2 = cluster.groups.find((g) => g.name === 'g2')!.routers[0]!;
    await g2.stop();
    try {
      await runChangesNothing(config);
    } finally {
      await g2.start();
    }
  }, 180_000);
});
