/**
 * The election driving real routers: one participant per backend group (three groups, one HAProxy
 * each). They meet on the coordination server picked from their observation (the routers' target),
 * the master announces TARG and switches its own group's routers, every follower switches its own
 * group's routers to TARG through the local RouterSwitch (the router script run by bash), and the
 * operation is removed. Afterwards the routers' target — and so the coordination server for the
 * next invocation — is the new primary.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CoordinationObservation,
  pickCoordinationServer,
} from '../../functions/election/coordination-server.js';
import { type CoordinationDb, connectCoordinationDb } from '../../functions/election/db.js';
import { ensureSchema, runOperation } from '../../functions/election/protocol.js';
import { readOperation } from '../../functions/election/status.js';
import { LocalRouterSwitch } from '../../functions/routers/local.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import { historyRows } from '../harness/election-fixtures.js';
import { describeFlavors, flavorClusterOptions } from '../harness/flavors.js';

describeFlavors('election with real routers', (flavor) => {
  let cluster: Cluster;
  const sessions: CoordinationDb[] = [];

  beforeAll(async () => {
    cluster = await startCluster({
      servers: 2,
      groups: 3,
      routersPerGroup: 1,
      name: 'election-routers',
      ...flavorClusterOptions(flavor),
    });
  });

  afterAll(async () => {
    await Promise.all(sessions.map((s) => s.close()));
    await cluster?.stop();
  });

  async function observe(): Promise<CoordinationObservation> {
    const routers = await Promise.all(
      cluster.routers.map(async (r) => {
        const address = await r.routesTo(2_000);
        const server = address === null ? null : cluster.serverAt(address);
        return { reachable: true, target: server ? { host: server.host, port: server.port } : null };
      }),
    );
    return {
      servers: cluster.servers.map((s) => ({ host: s.host, port: s.port, reachable: true })),
      routers,
    };
  }

  describe('election with real routers', () => {
    it('moves every group to the TARG the master announced, each participant switching its own routers', async () => {
      const [db1, db2] = [cluster.servers[0]!, cluster.servers[1]!];
      const { user, password } = cluster.credentials.watchdog;
      const routerSwitch = new LocalRouterSwitch({
        groups: Object.fromEntries(
          cluster.groups.map((g) => [
            g.name,
            g.routers.map((r) => ({
              id: r.address,
              routerKind: r.kind,
              // MySQL Router applies new destinations only on a restart (the harness's restart.sh).
              ...(r.kind === 'mysqlrouter'
                ? { applyMode: 'command' as const, applyCommand: `bash ${r.restartScript}` }
                : {}),
              configPath: r.configPath,
              verifyAddress: r.address,
              verifyUser: user,
              verifyPassword: password,
              backupDir: join(cluster.dir, 'router-backups'),
            })),
          ]),
        ),
      });

      const before = pickCoordinationServer(await observe());
      expect(before).toMatchObject({ server: { host: db1.host, port: db1.port }, votes: 3 });
      const setup = await connectCoordinationDb({ ...before.server!, user, password });
      sessions.push(setup);
      await ensureSchema(setup); // tables first: the three participants then meet in the election itself
      const switchGroup = async (group: string, targ: string) => {
        const others = cluster.servers.map((s) => s.address).filter((a) => a !== targ);
        const result = await routerSwitch.switch(group, { destinations: [targ, ...others], dryRun: false });
        if (!result.routers.every((r) => r.ok)) throw new Error(`${group}: ${result.message}`);
      };

      const reports = await Promise.all(
        cluster.groups.map(async (g) => {
          const db = await connectCoordinationDb({ ...before.server!, user, password });
          sessions.push(db);
          return runOperation({
            db,
            participant: `${g.name}@test`,
            op: 'switch',
            leaseMs: 10_000,
            followerTimeoutMs: 60_000,
            pollMs: 50,
            asMaster: async (ctx) => {
              await ctx.writeTarg(db2.address); // before any router moves
              await switchGroup(g.name, db2.address);
            },
            asFollower: async (targ) => switchGroup(g.name, targ),
          });
        }),
      );

      expect(reports.filter((r) => r.role === 'master' && r.outcome === 'completed')).toHaveLength(1);
      expect(reports.filter((r) => r.role === 'follower' && r.outcome === 'followed')).toHaveLength(2);
      expect(reports.every((r) => r.target === db2.address)).toBe(true);
      for (const router of cluster.routers) expect(await router.routesTo(2_000)).toBe(db2.address);

      // The audit stays on the server the operation ran on; the next invocation meets on the new target.
      const rows = await historyRows(db1);
      expect(rows.filter((r) => r.sig === 'FOOK')).toHaveLength(2);
      expect(rows.find((r) => r.sig === 'TARG')?.value).toBe(db2.address);
      const after = pickCoordinationServer(await observe());
      expect(after).toMatchObject({ server: { host: db2.host, port: db2.port }, votes: 3 });
      const next = await connectCoordinationDb({ ...after.server!, user, password });
      sessions.push(next);
      expect((await readOperation(next)).ongoing).toBeNull();
    });
  });
});
