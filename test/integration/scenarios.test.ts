/**
 * The operator-control scenarios (functions/sandbox/scenarios.ts) on one real cluster: two MariaDB
 * servers and an HAProxy router. `npm run bench:scenarios` runs the same ones with timings.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../functions/config/schema.js';
import { activeMaintenance } from '../../functions/core/policy.js';
import { readControl } from '../../functions/operations/control-store.js';
import { endMaintenance, startMaintenance } from '../../functions/operations/maintenance.js';
import { sandboxConfig } from '../../functions/sandbox/drill.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import { SCENARIOS } from '../../functions/sandbox/scenarios.js';

let cluster: Cluster;
let config: Config;

beforeAll(async () => {
  cluster = await startCluster({ servers: 2, groups: 1, name: 'scenarios' });
  config = sandboxConfig(cluster, 'scenarios test');
  for (let i = 0; i < 5; i++) await cluster.writeSomething();
  await cluster.waitForReplication(cluster.servers[1]!);
});

afterAll(async () => {
  await cluster?.stop();
});

// In order: a scenario leaves the cluster Ok, and history behind that the later ones read.
describe('operator-control scenarios', () => {
  for (const s of SCENARIOS) {
    it(s.name, { timeout: 300_000 }, async () => {
      await expect(s.run({ cluster, config, log: () => {} })).resolves.toBeUndefined();
    });
  }
});

describe('the control store (maintenance and history on every server)', () => {
  it('keeps a window through the loss of either server, and brings a server that missed its end up to date', async () => {
    const [db1, db2] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
    const t = Date.now();
    await startMaintenance(config, { scope: 'cluster', reason: 'upgrade', minutes: 10, by: 'test', now: t });
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
