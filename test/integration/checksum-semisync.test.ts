/**
 * The Verify checksum on a semi-sync MariaDB replica (functions/operations/checksum.ts): the replay to
 * the primary's position runs as an asynchronous replica, and afterwards the replica acknowledges
 * again and replicates — also when a watchdog stopped in the middle left its acknowledgements off.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, parseConfig } from '../../functions/config/schema.js';
import { connectAdmin } from '../../functions/operations/admin.js';
import { compareChecksums } from '../../functions/operations/checksum.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';

describe('checksum of a semi-sync replica on real MariaDB', () => {
  let cluster: Cluster;
  let config: Config;

  beforeAll(async () => {
    cluster = await startCluster({ servers: 2, groups: 0, name: 'checksum-semisync' });
    config = parseConfig(
      { ...cluster.config(), groups: [{ name: 'g', routerKind: 'haproxy', routers: ['127.0.0.1:9'] }] },
      'test',
    );
    const [db1, db2] = cluster.servers as [Cluster['servers'][0], Cluster['servers'][0]];
    await db1.query('CREATE DATABASE app_semi');
    await db1.query('CREATE TABLE app_semi.t (id INT PRIMARY KEY, v INT)');
    await db1.query('INSERT INTO app_semi.t VALUES (1, 1), (2, 2)');
    await db1.query('SET GLOBAL rpl_semi_sync_master_enabled = ON');
    await db2.query('STOP SLAVE');
    await db2.query('SET GLOBAL rpl_semi_sync_slave_enabled = ON');
    await db2.query('START SLAVE');
    await cluster.waitForReplication(db2);
  }, 180_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  const semiSyncOn = async (): Promise<boolean> => {
    const [r] = await cluster.servers[1]!.query<{ v: unknown }[]>(
      'SELECT @@global.rpl_semi_sync_slave_enabled AS v',
    );
    return Number(r?.v) === 1;
  };

  async function compare(options: { semiSync?: boolean }) {
    const [primary, replica] = await Promise.all([
      connectAdmin(config, cluster.servers[0]!.address),
      connectAdmin(config, cluster.servers[1]!.address),
    ]);
    try {
      return await compareChecksums(primary, replica, 30, options);
    } finally {
      await Promise.all([primary.close(), replica.close()]);
    }
  }

  it('compares and leaves the replica acknowledging and replicating', async () => {
    const cmp = await compare({});
    expect(cmp.consistent).toBe(true);
    expect(await semiSyncOn()).toBe(true);
    await cluster.servers[0]!.query('INSERT INTO app_semi.t VALUES (3, 3)');
    await cluster.waitForReplication(cluster.servers[1]!);
  });

  it('switches acknowledgements back on when semiSync is configured and an interrupted run left them off', async () => {
    const db2 = cluster.servers[1]!;
    await db2.query('SET GLOBAL rpl_semi_sync_slave_enabled = OFF');
    const cmp = await compare({ semiSync: true });
    expect(cmp.consistent).toBe(true);
    expect(await semiSyncOn()).toBe(true);
    await cluster.servers[0]!.query('INSERT INTO app_semi.t VALUES (4, 4)');
    await cluster.waitForReplication(db2);
  });
});
