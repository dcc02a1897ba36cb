/**
 * Observation against real servers and routers: what it costs in round trips, and that it never
 * throws — a frozen, restarted or refusing server ends up in the snapshot with its exact error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionCache, type ObserveTarget, observe } from '../../functions/cluster/observe.js';
import { COORDINATION_SCHEMA, SCHEMA_STATEMENTS, TABLES } from '../../functions/election/schema.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';

let cluster: Cluster;
let target: ObserveTarget;

beforeAll(async () => {
  // The benchmark's shape: 2 servers, one group of 3 routers.
  cluster = await startCluster({ servers: 2, groups: 1, routersPerGroup: 3, name: 'observe' });
  target = {
    cluster: cluster.name,
    configuredPrimary: cluster.primary.address,
    servers: cluster.servers.map((s) => ({ id: s.address, host: s.host, port: s.port })),
    groups: cluster.groups.map((g) => ({
      name: g.name,
      routers: g.routers.map((r) => ({ id: r.address, host: r.host, port: r.port })),
    })),
  };
});

afterAll(async () => {
  await cluster?.stop();
});

// Generous for a loaded machine: a healthy server must never look unreachable; a frozen one still times out.
const opts = () => ({ ...cluster.credentials.watchdog, connectTimeoutMs: 5_000, queryTimeoutMs: 10_000 });

describe('observe', () => {
  it('reads a server in two round trips cold and one warm, a router always in one', async () => {
    const cold = await observe(target, opts());
    // per server: variables + coordination check, then the version-specific replica status
    expect(cold.roundTrips).toBe(2 * 2 + 3);
    expect(cold.queries).toBe(2 * 3 + 3);
    const cache = new ConnectionCache();
    try {
      const first = await observe(target, { ...opts(), cache });
      expect(first.roundTrips).toBe(7);
      const warm = await observe(target, { ...opts(), cache });
      expect(warm.roundTrips).toBe(2 + 3);
      expect(warm.queries).toBe(2 * 3 + 3);
      expect(warm.servers.map((s) => s.reachable)).toEqual([true, true]);
      expect(warm.routers.map((r) => r.routesTo)).toEqual([
        cluster.primary.address,
        cluster.primary.address,
        cluster.primary.address,
      ]);
    } finally {
      await cache.close();
    }
  });

  it('reports every observed field of a MariaDB primary and replica', async () => {
    const s = await observe(target, opts());
    const [p, r] = s.servers;
    expect(p).toMatchObject({
      reachable: true,
      flavor: 'mariadb',
      serverId: 1,
      readOnly: false,
      superReadOnly: null,
      binlogEnabled: true,
      logReplicaUpdates: true,
      gtidStrictMode: true,
      gtidMode: 'ON',
      replication: null,
      operation: null,
    });
    expect(p!.version).toMatch(/MariaDB/);
    expect(p!.gtid.binlogPos.parsed?.isEmpty()).toBe(false);
    expect(p!.gtid.binlogState?.raw).toMatch(/^0-1-\d+/);
    expect(r!.replication).toMatchObject({
      sourceHost: cluster.primary.host,
      sourcePort: cluster.primary.port,
      sourceId: cluster.primary.address,
      sourceServerId: 1,
      ioRunning: 'Yes',
      sqlRunning: 'Yes',
      lastIoErrno: 0,
      lastSqlErrno: 0,
      secondsBehind: 0,
      usingGtid: 'Slave_Pos',
    });
    expect(r!.replication!.retrievedGtid.raw).toBe(p!.gtid.binlogPos.raw);
    expect(r!.replication!.executedGtid.raw).toBe(r!.gtid.slavePos.raw);
    expect(s.routers.every((x) => x.landed?.serverId === 1 && x.matchedBy === 'server_id')).toBe(true);
  });

  it('keeps one round trip per server while the coordination tables exist, and notices when they go', async () => {
    const cache = new ConnectionCache();
    const conn = await cluster.primary.connect();
    try {
      await conn.query('SET SESSION sql_log_bin = 0');
      for (const ddl of SCHEMA_STATEMENTS) await conn.query(ddl);
      const first = await observe(target, { ...opts(), cache });
      expect(first.servers[0]!.operation).toBeNull();
      const warm = await observe(target, { ...opts(), cache });
      expect(warm.roundTrips).toBe(2 + 3);
      expect(warm.servers[0]!.operation).toBeNull();
      // an operation is recorded: its row comes with the batch, its signals take one more round trip
      await conn.query(
        `INSERT INTO ${TABLES.operation} (id, epoch, opened_epoch, op, master, opened_by, lease_until)
         VALUES (1, 2, 2, 'repl', 'b1', 'b1', NOW(6) + INTERVAL 60 SECOND)`,
      );
      await conn.query(
        `INSERT INTO ${TABLES.status} (epoch, sig, value, participant) VALUES (2, 'SCAN', 'b1', 'b1')`,
      );
      const during = await observe(target, { ...opts(), cache });
      expect(during.roundTrips).toBe(2 + 3 + 1);
      expect(during.servers[0]!.operation).toMatchObject({ epoch: 2, op: 'repl', master: 'b1' });
      expect(during.servers[0]!.operation!.signals).toEqual([
        expect.objectContaining({ signal: 'SCAN', value: 'b1', participant: 'b1' }),
      ]);
      await conn.query(`DROP DATABASE ${COORDINATION_SCHEMA}`);
      const gone = await observe(target, { ...opts(), cache });
      expect(gone.servers[0]).toMatchObject({ reachable: true, operation: null, error: null });
    } finally {
      await conn.query(`DROP DATABASE IF EXISTS ${COORDINATION_SCHEMA}`);
      await conn.end();
      await cache.close();
    }
  });

  it('does not hang on a frozen server: it is unreachable with a timeout error', async () => {
    const replica = cluster.servers[1]!;
    await replica.pause();
    try {
      const s = await observe(target, opts());
      expect(s.servers[1]).toMatchObject({
        reachable: false,
        error: { code: 'ETIMEDOUT', stage: 'connect' },
      });
      expect(s.servers[1]!.error!.message).toMatch(/ETIMEDOUT|timed out/);
      expect(s.servers[0]!.reachable).toBe(true);
    } finally {
      await replica.resume();
    }
  });

  it('reconnects when a cached connection died with a server restart', async () => {
    const cache = new ConnectionCache();
    try {
      expect((await observe(target, { ...opts(), cache })).servers[1]!.reachable).toBe(true);
      await cluster.servers[1]!.restart();
      const after = await observe(target, { ...opts(), cache });
      expect(after.servers[1]).toMatchObject({ reachable: true, error: null });
    } finally {
      await cache.close();
    }
    await cluster.waitForReplication(cluster.servers[1]!);
  });

  it('says a query was refused on a connected server (missing privilege), not that it is down', async () => {
    await cluster.primary.query("CREATE USER IF NOT EXISTS 'limited'@'%' IDENTIFIED BY 'limited-pw'");
    await cluster.waitForReplication(cluster.servers[1]!);
    try {
      const s = await observe(target, { ...opts(), user: 'limited', password: 'limited-pw' });
      for (const server of s.servers) {
        expect(server.reachable).toBe(false);
        // SHOW SLAVE STATUS needs SLAVE MONITOR on MariaDB 10.11
        expect(server.error).toMatchObject({ errno: 1227, stage: 'query' });
      }
    } finally {
      await cluster.primary.query("DROP USER IF EXISTS 'limited'@'%'");
    }
  });

  it('keeps the exact error of a refused login and of a router that is down', async () => {
    await cluster.groups[0]!.routers[2]!.stop();
    try {
      const s = await observe(target, { ...opts(), password: 'wrong' });
      for (const server of s.servers) {
        expect(server.reachable).toBe(false);
        expect(server.error).toMatchObject({ code: 'ER_ACCESS_DENIED_ERROR', errno: 1045, stage: 'connect' });
      }
      expect(s.routers[2]!.error).toMatchObject({ code: 'ECONNREFUSED' });
      // the routers that run forward the same refused login
      expect(s.routers[0]!.error).toMatchObject({ errno: 1045 });
    } finally {
      await cluster.groups[0]!.routers[2]!.start();
    }
  });
});
