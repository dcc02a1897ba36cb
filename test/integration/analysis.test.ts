/**
 * Every analysis code produced on a real cluster (2 MariaDB servers, 3 backend groups with one sticky
 * HAProxy router each), observed with the watchdog account's real grants. One cluster for the whole
 * file: each state is produced, asserted, and undone before the next, in an order where the undo is
 * cheap; the destructive states (kill -9, everything stopped) come last.
 *
 * Set CAPTURE_SNAPSHOTS=1 to write the observation behind each assertion to
 * test/fixtures/snapshots/<Code>[.variant].json; the golden tests replay them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Flavor, inlineStatement } from '../../functions/cluster/flavor.js';
import { ConnectionCache, type ObserveTarget, observe } from '../../functions/cluster/observe.js';
import {
  type Analysis,
  type AnalysisCode,
  type AnalyzeOptions,
  analyze,
} from '../../functions/core/analysis.js';
import { type Snapshot, snapshotToJson } from '../../functions/core/snapshot.js';
import { COORDINATION_SCHEMA, SCHEMA_STATEMENTS, TABLES } from '../../functions/election/schema.js';
import { type Cluster, freePort, startCluster } from '../../functions/sandbox/harness/index.js';

let cluster: Cluster;
let target: ObserveTarget;
let cache: ConnectionCache;
let db1: string;
let db2: string;
const captureDir = join(import.meta.dirname, '../fixtures/snapshots');

function targetOf(c: Cluster, overrides: Record<string, { host: string; port: number }> = {}): ObserveTarget {
  const cfg = c.config();
  return {
    cluster: cfg.clusterName,
    configuredPrimary: c.primary.address,
    servers: c.servers.map((s) => {
      const o = overrides[s.address];
      const host = o?.host ?? s.host;
      const port = o?.port ?? s.port;
      return { id: `${host}:${port}`, host, port };
    }),
    groups: c.groups.map((g) => ({
      name: g.name,
      routers: g.routers.map((r) => ({ id: r.address, host: r.host, port: r.port })),
    })),
  };
}

async function check(t: ObserveTarget = target): Promise<{ snapshot: Snapshot; analysis: Analysis }> {
  const snapshot = await observe(t, {
    ...cluster.credentials.watchdog,
    cache: t === target ? cache : undefined,
    // Generous: on a loaded 2-core machine a healthy server can take over a second to greet; a
    // shorter limit made it look unreachable for one observation (a frozen one still times out).
    connectTimeoutMs: 5_000,
    queryTimeoutMs: 10_000,
  });
  const analysis = analyze(snapshot);
  lastSnapshot = snapshot;
  return { snapshot, analysis };
}

let lastSnapshot: Snapshot | null = null;

/**
 * With CAPTURE_SNAPSHOTS=1, stores the last observation as a golden fixture `<name>.json`, and the
 * analysis options it is replayed with as `<name>.options.json` (a group's own view).
 */
function keep(name: string, options?: AnalyzeOptions): void {
  if (process.env.CAPTURE_SNAPSHOTS !== '1' || !lastSnapshot) return;
  mkdirSync(captureDir, { recursive: true });
  writeFileSync(
    join(captureDir, `${name}.json`),
    `${JSON.stringify(snapshotToJson(lastSnapshot), null, 2)}\n`,
  );
  if (options) writeFileSync(join(captureDir, `${name}.options.json`), `${JSON.stringify(options)}\n`);
}

/**
 * The cluster reaches a state asynchronously (health checks, IO thread reconnects). Observe until the
 * analysis gives `code` or the deadline passes, then assert on the last observation: a wrong code
 * fails with its evidence, never with a timing figure.
 */
async function settleOn(code: AnalysisCode, t?: ObserveTarget, deadlineMs = 60_000): Promise<Analysis> {
  const end = Date.now() + deadlineMs;
  let last = await check(t);
  while (last.analysis.code !== code && Date.now() < end) {
    await sleep(200);
    last = await check(t);
  }
  expect({ code: last.analysis.code, evidence: last.analysis.evidence }).toMatchObject({ code });
  return last.analysis;
}

async function allRoutersTo(address: string): Promise<void> {
  const server = cluster.server(address);
  await Promise.all(cluster.routers.map((r) => cluster.waitForRouterTarget(r, server)));
}

/**
 * Clears the sticky MAINT of db1 on every router (what a router switch's reload also does), once the
 * router's health checks have settled. A one-shot `state ready` is not enough: right after the servers
 * restart, db1 can still be DOWN (rising) in a router's checks; `ready` is then a no-op, and when db2
 * rises first the sticky task puts db1 in MAINT afterwards, so the router keeps to db2. Each router is
 * therefore watched until db1 is UP and new connections land on it, clearing MAINT whenever it appears.
 */
async function routersBackToDb1(deadlineMs = 60_000): Promise<void> {
  const primary = cluster.server(db1);
  await Promise.all(
    cluster.haproxyRouters.map(async (router) => {
      const end = Date.now() + deadlineMs;
      for (;;) {
        const state = (await router.serverStates()).find((s) => s.name === primary.name)?.status ?? '';
        if (state === 'MAINT') await router.runtime(`set server mysql_failover/${primary.name} state ready`);
        else if (state.startsWith('UP') && (await router.routesTo()) === db1) return;
        if (Date.now() > end) break;
        await sleep(100);
      }
      // Fails with the router's own view (states, where it routes) as evidence.
      await cluster.waitForRouterTarget(router, primary, 0);
    }),
  );
}

beforeAll(async () => {
  cluster = await startCluster({ servers: 2, groups: 3, routerMode: 'sticky', name: 'analysis' });
  target = targetOf(cluster);
  cache = new ConnectionCache();
  db1 = cluster.servers[0]!.address;
  db2 = cluster.servers[1]!.address;
  await cluster.writeSomething();
  await cluster.waitForReplication(cluster.servers[1]!);
});

afterAll(async () => {
  await cache?.close();
  await cluster?.stop();
});

describe('analysis of a real cluster', () => {
  it('says Ok for a healthy cluster, with every router on the primary', async () => {
    const { snapshot, analysis } = await check();
    expect(analysis.code).toBe('Ok');
    keep('Ok');
    expect(analysis.primary).toBe(db1);
    expect(analysis.routers).toMatchObject({ total: 3, answering: 3, targets: { [db1]: 3 } });
    expect(snapshot.servers.map((s) => [s.reachable, s.flavor, s.serverId])).toEqual([
      [true, 'mariadb', 1],
      [true, 'mariadb', 2],
    ]);
    const replica = snapshot.servers[1]!;
    expect(replica.replication).toMatchObject({
      sourceId: db1,
      ioRunning: 'Yes',
      sqlRunning: 'Yes',
      usingGtid: 'Slave_Pos',
    });
    expect(replica.gtid.binlogPos.parsed?.equals(snapshot.servers[0]!.gtid.binlogPos.parsed!)).toBe(true);
    expect(snapshot.servers[0]!.superReadOnly).toBeNull();
    expect(snapshot.routers.every((r) => r.matchedBy === 'server_id')).toBe(true);
  });

  it('reads each server with one round trip once the flavor is cached', async () => {
    const { snapshot } = await check();
    // 2 servers x 1 batched round trip + 3 routers x 1 (a router always needs a fresh connection)
    expect(snapshot.roundTrips).toBe(5);
    expect(snapshot.queries).toBe(2 * 3 + 3);
  });

  it('says OperationInProgress while ongoing_failover records an operation, and Ok once it is removed', async () => {
    const conn = await cluster.primary.connect();
    try {
      // The election's own DDL and session rule: coordination writes stay out of replication.
      await conn.query('SET SESSION sql_log_bin = 0');
      for (const ddl of SCHEMA_STATEMENTS) await conn.query(ddl);
      await conn.query(
        `INSERT INTO ${TABLES.operation} (id, epoch, opened_epoch, op, master, opened_by, lease_until)
         VALUES (1, 7, 7, 'fail', 'backend-a', 'backend-a', NOW(6) + INTERVAL 30 SECOND)`,
      );
      await conn.query(
        `INSERT INTO ${TABLES.status} (epoch, sig, value, participant) VALUES
         (7, 'SCAN', 'backend-a', 'backend-a'), (7, 'MAST', 'backend-a', 'backend-a'), (7, 'OPER', 'fail', 'backend-a')`,
      );
      const { snapshot, analysis } = await check();
      expect(analysis.code).toBe('OperationInProgress');
      keep('OperationInProgress');
      expect(analysis.affected).toEqual([db1]);
      const op = snapshot.servers[0]!.operation!;
      expect(op).toMatchObject({ epoch: 7, op: 'fail', master: 'backend-a' });
      expect(op.leaseExpiresInMs).toBeGreaterThan(0);
      expect(op.signals.map((s) => s.signal)).toEqual(['SCAN', 'MAST', 'OPER']);

      await conn.query(`DELETE FROM ${TABLES.status}`);
      await conn.query(`DELETE FROM ${TABLES.operation}`);
      const after = await check();
      expect(after.analysis.code).toBe('Ok');
      expect(after.snapshot.servers[0]!.operation).toBeNull();
      await conn.query(`DROP DATABASE ${COORDINATION_SCHEMA}`);
    } finally {
      await conn.end();
    }
  });

  it('says RecoverNeeded when the replica stops on a replication error, and Ok once it is repaired', async () => {
    const replica = cluster.servers[1]!;
    const broken = await cluster.breakReplication(replica);
    const { snapshot, analysis } = await check();
    expect(analysis.code).toBe('RecoverNeeded');
    keep('RecoverNeeded');
    expect(analysis.affected).toEqual([db2]);
    expect(snapshot.servers[1]!.replication).toMatchObject({ sqlRunning: 'No', lastSqlErrno: broken.errno });
    expect(analysis.evidence.join('\n')).toContain(`SQL error ${broken.errno}`);

    // Repair: remove the conflicting row on the replica only, and let the SQL thread retry.
    const conn = await replica.connect();
    try {
      await conn.query('SET SESSION sql_log_bin = 0');
      await conn.query("DELETE FROM harness.writes WHERE note = 'conflict' AND server = ?", [replica.name]);
      await conn.query('START SLAVE');
    } finally {
      await conn.end();
    }
    await cluster.waitForReplication(replica);
    expect((await check()).analysis.code).toBe('Ok');
  });

  it('says SplitBrain when one group’s router sends writes to the replica while the others use the primary', async () => {
    const [g1] = cluster.groups;
    const router = cluster.haproxyRouters.find((r) => r.group === g1!.name)!;
    await router.runtime('set server mysql_failover/db1 state maint');
    await cluster.waitForRouterTarget(router, cluster.servers[1]!);
    const { analysis } = await check();
    expect(analysis.code).toBe('SplitBrain');
    keep('SplitBrain.routers-disagree');
    expect(analysis.routers.targets).toEqual({ [db1]: 2, [db2]: 1 });
    // the majority side is the one a `resolve` policy would keep
    expect(analysis.candidate).toBe(db1);
    await routersBackToDb1();
    expect((await check()).analysis.code).toBe('Ok');
  });

  it('says RoutersBehind, for that group only, when its router fell to the read-only replica while the others use the primary', async () => {
    const [g1] = cluster.groups;
    const router = cluster.haproxyRouters.find((r) => r.group === g1!.name)!;
    const replica = cluster.servers[1]!;
    await replica.query('SET GLOBAL read_only = ON');
    try {
      await router.runtime('set server mysql_failover/db1 state maint');
      await cluster.waitForRouterTarget(router, replica);
      const { snapshot } = await check();
      const analysis = analyze(snapshot, { group: g1!.name });
      expect({ code: analysis.code, evidence: analysis.evidence }).toMatchObject({ code: 'RoutersBehind' });
      keep('RoutersBehind', { group: g1!.name });
      expect(analysis).toMatchObject({ primary: db1, candidate: db1, affected: [db2] });
      expect(analysis.routers).toEqual({ total: 1, answering: 1, targets: { [db2]: 1 } });
      // the groups whose routers use the primary see nothing to do
      for (const g of cluster.groups.slice(1)) expect(analyze(snapshot, { group: g.name }).code).toBe('Ok');
    } finally {
      await replica.query('SET GLOBAL read_only = OFF');
    }
    await routersBackToDb1();
    expect((await check()).analysis.code).toBe('Ok');
  });

  it('says ReplicaErrantTransactions for a write on the replica, then SplitBrain once both heads took writes', async () => {
    const replica = cluster.servers[1]!;
    await cluster.waitForReplication(replica);
    const errant = await cluster.createErrantTransaction(replica);
    let { analysis } = await check();
    expect(analysis.code).toBe('ReplicaErrantTransactions');
    keep('ReplicaErrantTransactions');
    expect(analysis.affected).toEqual([db2]);
    expect(analysis.errant).toHaveLength(1);
    expect(analysis.errant[0]).toMatchObject({ server: db2, missingOn: db1 });
    // MariaDB positions: the errant range is named by the replica's server_id and ends at its write
    const seq = errant.gtid.split('-')[2];
    expect(analysis.errant[0]!.gtids).toMatch(new RegExp(`^0-2-\\[\\d+\\.\\.${seq}\\]$`));

    // The replica is detached and becomes a head of its own (as a manual promotion would do); the
    // primary takes a write too: each now holds a transaction the other lacks.
    const flavor = Flavor.detect((await replica.query<{ v: string }[]>('SELECT VERSION() AS v'))[0]!.v);
    await replica.query(flavor.stopReplica());
    await replica.query(flavor.resetReplicaAll());
    const before = (await cluster.gtidState(cluster.primary)).binlogPos;
    await cluster.writeSomething(cluster.primary, 'primary-side');
    ({ analysis } = await check());
    expect(analysis.code).toBe('SplitBrain');
    keep('SplitBrain.two-heads');
    expect(analysis.candidate).toBe(db1);
    expect(analysis.errant.map((e) => `${e.server} lacks-on ${e.missingOn}`).sort()).toEqual(
      [`${db1} lacks-on ${db2}`, `${db2} lacks-on ${db1}`].sort(),
    );

    // Undo with the flavor module's own statements: drop the replica's divergent row and binary log,
    // set its position to what it had applied from the primary, and point it at the primary again;
    // replication then brings the primary's later write.
    const conn = await replica.connect();
    try {
      await conn.query(flavor.disableBinlogForSession());
      await conn.query('DELETE FROM harness.writes WHERE id = ?', [errant.id]);
      for (const s of flavor.setGtidPositionAfterRestore(before)) await conn.query(s.sql, s.values);
      const change = flavor.changeSource({
        host: cluster.primary.host,
        port: cluster.primary.port,
        user: cluster.credentials.replication.user,
        password: cluster.credentials.replication.password,
        connectRetrySeconds: 1,
      });
      await conn.query(change.sql, change.values);
      await conn.query(flavor.startReplica());
    } finally {
      await conn.end();
    }
    await cluster.waitForReplication(replica);
    expect((await check()).analysis.code).toBe('Ok');
  });

  it('says ReplicaDown while the replica is stopped, and Ok after it restarts', async () => {
    const replica = cluster.servers[1]!;
    await replica.stop();
    const { analysis } = await check();
    expect(analysis.code).toBe('ReplicaDown');
    keep('ReplicaDown');
    expect(analysis.affected).toEqual([db2]);
    await replica.start();
    await cluster.waitForReplication(replica);
    expect((await check()).analysis.code).toBe('Ok');
  });

  it('says PrimaryReadOnly while the routers send writes to a read-only primary', async () => {
    await cluster.primary.query('SET GLOBAL read_only = ON');
    try {
      const { analysis } = await check();
      expect(analysis.code).toBe('PrimaryReadOnly');
      keep('PrimaryReadOnly');
      expect(analysis.affected).toEqual([db1]);
    } finally {
      await cluster.primary.query('SET GLOBAL read_only = OFF');
    }
    expect((await check()).analysis.code).toBe('Ok');
  });

  it('says NotGtidEnabled when the replica replicates by binlog file and position', async () => {
    const replica = cluster.servers[1]!;
    await replica.query('STOP SLAVE');
    await replica.query('CHANGE MASTER TO MASTER_USE_GTID = no');
    await replica.query('START SLAVE');
    try {
      await cluster.waitForReplication(replica);
      const { snapshot, analysis } = await check();
      expect(analysis.code).toBe('NotGtidEnabled');
      keep('NotGtidEnabled');
      expect(snapshot.servers[1]!.replication?.usingGtid).toBe('No');
    } finally {
      await replica.query('STOP SLAVE');
      await replica.query('CHANGE MASTER TO MASTER_USE_GTID = slave_pos');
      await replica.query('START SLAVE');
    }
    await cluster.waitForReplication(replica);
    expect((await check()).analysis.code).toBe('Ok');
  });

  it('says ReplicationLagging when the replica applies events later than the limit', async () => {
    const replica = cluster.servers[1]!;
    // A delayed replica (MASTER_DELAY) lags by construction; the limit is set below the delay.
    await replica.query('STOP SLAVE');
    await replica.query('CHANGE MASTER TO MASTER_DELAY = 60');
    await replica.query('START SLAVE');
    try {
      await cluster.writeSomething(cluster.primary, 'lag');
      const end = Date.now() + 60_000;
      let last = await check();
      let a = analyze(last.snapshot, { maxLagSeconds: 1 });
      while (a.code !== 'ReplicationLagging' && Date.now() < end) {
        await sleep(200);
        last = await check();
        a = analyze(last.snapshot, { maxLagSeconds: 1 });
      }
      expect({ code: a.code, evidence: a.evidence }).toMatchObject({ code: 'ReplicationLagging' });
      keep('ReplicationLagging');
      expect(a.affected).toEqual([db2]);
      expect(last.snapshot.servers[1]!.replication!.secondsBehind).toBeGreaterThan(1);
      // with the default limit (60 s) the same observation is Ok
      expect(analyze(last.snapshot).code).toBe('Ok');
    } finally {
      await replica.query('STOP SLAVE');
      await replica.query('CHANGE MASTER TO MASTER_DELAY = 0');
      await replica.query('START SLAVE');
    }
    await cluster.waitForReplication(replica);
    expect((await check()).analysis.code).toBe('Ok');
  });

  it('says RoutersUnknown when no router answers while the servers are fine', async () => {
    await Promise.all(cluster.routers.map((r) => r.stop()));
    try {
      const { snapshot, analysis } = await check();
      expect(analysis.code).toBe('RoutersUnknown');
      keep('RoutersUnknown.none-answering');
      expect(snapshot.routers.every((r) => r.error?.code === 'ECONNREFUSED')).toBe(true);
    } finally {
      await Promise.all(cluster.routers.map((r) => r.start()));
    }
    await allRoutersTo(db1);
    expect((await check()).analysis.code).toBe('Ok');
  });

  it('says PrimaryUnreachableRoutersOnPrimary when only our path to the primary is broken', async () => {
    // A partition between the watchdog and the primary: we reach the primary at an address that
    // answers nothing (a closed port), while the routers still reach it at its real one.
    const closed = await freePort();
    const partitioned = targetOf(cluster, { [db1]: { host: '127.0.0.1', port: closed } });
    const { snapshot, analysis } = await check(partitioned);
    expect(analysis.code).toBe('PrimaryUnreachableRoutersOnPrimary');
    keep('PrimaryUnreachableRoutersOnPrimary');
    expect(analysis.primary).toBe(`127.0.0.1:${closed}`);
    expect(snapshot.servers[0]!.error?.code).toBe('ECONNREFUSED');
    // the routers' server was identified although we could not read its server_id ourselves
    expect(snapshot.routers.every((r) => r.matchedBy === 'elimination')).toBe(true);
  });

  it('says UnconfirmedPrimaryFailure while the replica still receives from a frozen primary, FailoverNeeded once it answers again', async () => {
    const replica = cluster.servers[1]!;
    // A long slave_net_timeout keeps the replica's IO thread on the frozen connection (not yet errored).
    await replica.query('STOP SLAVE');
    await replica.query('SET GLOBAL slave_net_timeout = 3600');
    await replica.query('START SLAVE');
    await cluster.waitForReplication(replica);
    await cluster.primary.pause();
    try {
      await allRoutersTo(db2);
      const a = await settleOn('UnconfirmedPrimaryFailure');
      keep('UnconfirmedPrimaryFailure');
      expect(a).toMatchObject({ primary: db2, candidate: db2, oldPrimary: db1 });
    } finally {
      await cluster.primary.resume();
    }
    // The sticky routers stay on the replica: writes now go there while the old primary is up.
    const a = await settleOn('FailoverNeeded');
    keep('FailoverNeeded.after-freeze');
    expect(a).toMatchObject({ primary: db2, candidate: db2, oldPrimary: db1 });
    await replica.query('STOP SLAVE');
    await replica.query('SET GLOBAL slave_net_timeout = 4');
    await replica.query('START SLAVE');
    await routersBackToDb1();
    await cluster.waitForReplication(replica);
    expect((await check()).analysis.code).toBe('Ok');
  });

  it('says PrimaryDead after kill -9 once the routers moved and the replica lost its source, FailoverNeeded when it returns', async () => {
    const replica = cluster.servers[1]!;
    await cluster.primary.kill9();
    await allRoutersTo(db2);
    const dead = await settleOn('PrimaryDead');
    keep('PrimaryDead');
    expect(dead).toMatchObject({ primary: db2, candidate: db2, oldPrimary: db1 });
    expect(dead.evidence.join('\n')).toMatch(/IO (Connecting|No).*IO error \d+/s);

    await cluster.primary.start();
    const back = await settleOn('FailoverNeeded');
    keep('FailoverNeeded.after-kill');
    expect(back).toMatchObject({ candidate: db2, oldPrimary: db1 });
    await routersBackToDb1();
    await cluster.waitForReplication(replica);
    expect((await check()).analysis.code).toBe('Ok');
  });

  it("names the old primary's unreplicated writes for salvage when it returns after a failure", async () => {
    const replica = cluster.servers[1]!;
    // The replica stops receiving, the primary takes a write only it has, then dies.
    await replica.query('STOP SLAVE IO_THREAD');
    const lost = await cluster.writeSomething(cluster.primary, 'unreplicated');
    await cluster.primary.kill9();
    await allRoutersTo(db2);
    const dead = await settleOn('PrimaryDead');
    expect(dead.evidence.join('\n')).toContain('IO No');
    await cluster.primary.start();
    const back = await settleOn('FailoverNeeded');
    keep('FailoverNeeded.unreplicated-writes');
    expect(back.errant).toHaveLength(1);
    expect(back.errant[0]).toMatchObject({ server: db1, missingOn: db2 });
    const seq = lost.gtid.split('-')[2];
    expect(back.errant[0]!.gtids).toMatch(new RegExp(`^0-1-\\[\\d+\\.\\.${seq}\\]$`));
    await replica.query('START SLAVE IO_THREAD');
    await routersBackToDb1();
    await cluster.waitForReplication(replica);
    expect((await check()).analysis.code).toBe('Ok');
  });

  it('says AllDown when every server is stopped', async () => {
    await Promise.all(cluster.servers.map((s) => s.stop()));
    await Promise.all(cluster.routers.map((r) => cluster.waitForRouterTarget(r, null)));
    const { snapshot, analysis } = await check();
    expect(analysis.code).toBe('AllDown');
    keep('AllDown');
    expect(snapshot.servers.every((s) => !s.reachable && s.error?.code === 'ECONNREFUSED')).toBe(true);
    expect(snapshot.routers.every((r) => !r.reachable && r.error !== null)).toBe(true);
  });
});

describe('flavor statements on a real MariaDB server', () => {
  it('are accepted by MariaDB as the flavor module writes them', async () => {
    // Runs after AllDown: bring the servers back for this block.
    await Promise.all(cluster.servers.map((s) => s.start()));
    const replica = cluster.servers[1]!;
    await cluster.waitForReplication(replica);
    // Sticky routers that saw db2 come up before db1 keep to db2 (seen as SplitBrain): reset them.
    await routersBackToDb1();
    const conn = await replica.connect(cluster.credentials.watchdog);
    try {
      const [v] = (await conn.query('SELECT VERSION() AS v, @@version_comment AS c')) as unknown as [
        { v: string; c: string }[],
      ];
      const flavor = Flavor.detect(v[0]!.v, v[0]!.c);
      expect(flavor.name).toBe('mariadb');
      // fence and open, each read back
      for (const s of flavor.setReadOnly(true)) await conn.query(s);
      let [ro] = (await conn.query(flavor.readOnlyQuery())) as unknown as [{ read_only: number }[]];
      expect(Number(ro[0]!.read_only)).toBe(1);
      for (const s of flavor.setReadOnly(false)) await conn.query(s);
      [ro] = (await conn.query(flavor.readOnlyQuery())) as unknown as [{ read_only: number }[]];
      expect(Number(ro[0]!.read_only)).toBe(0);
      // wait for the primary's position on the replica
      const pos = (await cluster.gtidState(cluster.primary)).binlogPos;
      const w = flavor.waitForGtid(pos, 5);
      const [res] = (await conn.query(w.sql, w.values)) as unknown as [{ result: unknown }[]];
      expect(flavor.gtidWaitSucceeded(res[0]!.result)).toBe(true);
      const [st] = (await conn.query(flavor.showReplicaStatus())) as unknown as [Record<string, unknown>[]];
      const [gq] = (await conn.query(flavor.gtidQuery())) as unknown as [{ slave_pos: string }[]];
      expect(flavor.normalizeReplicaStatus(st, gq[0]!.slave_pos)).toMatchObject({
        ioRunning: 'Yes',
        sqlRunning: 'Yes',
        sourcePort: cluster.primary.port,
      });
      await conn.query(flavor.stopReplicaIoThread());
      await conn.query(flavor.stopReplica());
      await conn.query(flavor.startReplica());
      expect(inlineStatement({ sql: flavor.disableBinlogForSession() })).toBe('SET SESSION sql_log_bin = 0');
      await conn.query(flavor.disableBinlogForSession());
      await conn.query(flavor.showBinaryLogStatus());
    } finally {
      await conn.end();
    }
    await cluster.waitForReplication(replica);
    expect((await check()).analysis.code).toBe('Ok');
  });
});
