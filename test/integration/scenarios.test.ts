/**
 * The operator-control scenarios (functions/sandbox/scenarios.ts) on real clusters (MariaDB servers,
 * an HAProxy router), one cluster per set: `npm run bench:scenarios` runs the same ones with timings.
 * The control store's own guarantees are tested on the first cluster after its scenarios.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../functions/config/schema.js';
import { activeMaintenance } from '../../functions/core/policy.js';
import { readControl } from '../../functions/operations/control-store.js';
import { endMaintenance, startMaintenance } from '../../functions/operations/maintenance.js';
import { sandboxConfig } from '../../functions/sandbox/drill.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import { SCENARIO_SETS } from '../../functions/sandbox/scenarios.js';

for (const set of SCENARIO_SETS) {
  // In order: a scenario leaves the cluster Ok, and history behind that the later ones read.
  describe(`operator-control scenarios on ${set.servers} servers`, () => {
    let cluster: Cluster;
    let config: Config;

    beforeAll(async () => {
      cluster = await startCluster({ servers: set.servers, groups: 1, name: `scenarios-${set.servers}` });
      config = sandboxConfig(cluster, 'scenarios test');
      for (let i = 0; i < 5; i++) await cluster.writeSomething();
      for (const replica of cluster.servers.slice(1)) await cluster.waitForReplication(replica);
    });

    afterAll(async () => {
      await cluster?.stop();
    });

    for (const s of set.scenarios) {
      it(s.name, { timeout: 420_000 }, async () => {
        await expect(s.run({ cluster, config, log: () => {} })).resolves.toBeUndefined();
      });
    }

    if (set.servers !== 2) return;
    it('the control store keeps a window through the loss of either server, and brings a server that missed its end up to date', async () => {
      const [db1, db2] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
      const t = Date.now();
      await startMaintenance(config, {
        scope: 'cluster',
        reason: 'upgrade',
        minutes: 10,
        by: 'test',
        now: t,
      });
      // Each server alone still knows the window.
      for (const lost of [db1, db2]) {
        await lost.stop();
        const state = await readControl(config);
        expect(state.unreadable.map((u) => u.server)).toEqual([lost.address]);
        expect(activeMaintenance(state.maintenance, Date.now())).toMatchObject([{ scope: 'cluster' }]);
        await lost.start();
      }
      // The window ends while db2 is down; db2 comes back holding the older version.
      await db2.stop();
      await endMaintenance(config, { scope: 'cluster', by: 'test', now: Date.now() });
      await db2.start();
      const repaired = await readControl(config, { repair: true });
      expect(repaired.repaired).toEqual([db2.address]);
      await db1.stop();
      const fromDb2 = await readControl(config);
      expect(activeMaintenance(fromDb2.maintenance, Date.now())).toEqual([]);
      await db1.start();
    });
  });
}
