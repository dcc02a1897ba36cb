/**
 * A rebuilt server is its source's copy in accounts and GTID history too (two MariaDB servers, one
 * HAProxy router, the watchdog's own cycle): an account created and a password rotated on the new
 * primary after a failover work on the server the watchdog rebuilt from it, after a second failover
 * to that server; and that failover's salvage record names exactly the transactions the rebuilt
 * server really lacked — not the whole history it received through its reseed — and none at all in
 * a third failover where nothing was missing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../functions/config/schema.js';
import { type CycleReport, runCycle } from '../../functions/operations/cycle.js';
import { sandboxConfig, sandboxRouterSwitch } from '../../functions/sandbox/drill.js';
import { type Cluster, type ServerHandle, startCluster } from '../../functions/sandbox/harness/index.js';

let cluster: Cluster;
let config: Config;
const app = { user: 'app_rotated', password: 'app-pw-1' };

/** A run as the trigger starts it; an operator's forced run names its target (and may accept a loss). */
function check(
  trigger: 'alarm' | 'console',
  forced?: { target: string; allowDataLoss?: boolean; reason: string },
): Promise<CycleReport> {
  return runCycle(
    config,
    { trigger, action: 'check', group: 'g1', dryRun: false, force: forced !== undefined, ...forced },
    { routers: sandboxRouterSwitch(config) },
  );
}

async function binlogState(s: ServerHandle): Promise<string> {
  const [r] = await s.query<{ s: string }[]>('SELECT @@global.gtid_binlog_state AS s');
  return String(r?.s);
}

async function canLogIn(s: ServerHandle, user: string, password: string): Promise<boolean> {
  try {
    const c = await s.connect({ user, password });
    await c.end();
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  cluster = await startCluster({ servers: 2, groups: 1, name: 'dump-reseed-accounts' });
  config = sandboxConfig(cluster, 'reseed accounts test');
  const db1 = cluster.servers[0]!;
  await db1.query(`CREATE USER '${app.user}'@'%' IDENTIFIED BY '${app.password}'`);
  await db1.query(`GRANT SELECT ON harness.* TO '${app.user}'@'%'`);
  for (let i = 0; i < 10; i++) await cluster.writeSomething(db1, 'before');
  await cluster.waitForReplication(cluster.servers[1]!);
});

afterAll(async () => {
  await cluster?.stop();
});

describe('a server rebuilt by a reseed', () => {
  it('has the accounts and the GTID history of its source: after a second failover to it, logins work and the salvage names exactly what was missing', async () => {
    const [db1, db2] = cluster.servers as [ServerHandle, ServerHandle];

    // Failover 1: db1 dies holding two writes db2 never received, and stays down meanwhile.
    await db2.query('STOP SLAVE IO_THREAD');
    const lost1 = [await cluster.writeSomething(db1, 'lost 1'), await cluster.writeSomething(db1, 'lost 1')];
    await db1.kill9();
    await Promise.all(cluster.routers.map((r) => cluster.waitForRouterTarget(r, db2, 30_000)));
    const failover1 = await check('alarm');
    expect(failover1.operation).toMatchObject({
      operation: 'promote-dead',
      outcome: 'completed',
      target: db2.address,
    });

    // On the new primary: an account created, the application's password rotated, more writes.
    await db2.query("CREATE USER 'late_user'@'%' IDENTIFIED BY 'late-pw'");
    await db2.query("GRANT SELECT ON harness.* TO 'late_user'@'%'");
    await db2.query(`ALTER USER '${app.user}'@'%' IDENTIFIED BY 'app-pw-2'`);
    for (let i = 0; i < 3; i++) await cluster.writeSomething(db2, 'after failover 1');

    // db1 comes back writable with its two writes: the watchdog salvages them and rebuilds db1 from db2.
    await db1.start();
    const rebuild = await check('alarm');
    expect(rebuild.operation?.outcome).toBe('completed');
    const steps = rebuild.operation!.steps.map((s) => `${s.kind}:${s.outcome}`);
    expect(steps).toContain('Reseed:done');
    expect(rebuild.operation!.salvage[0]!.transactions.map((t) => t.gtid).sort()).toEqual(
      lost1.map((l) => l.gtid).sort(),
    );
    await cluster.waitForReplication(db1);
    // The rebuilt server's binlog state holds every domain-server pair of its source's, not one position.
    const state = await binlogState(db1);
    expect(state.split(',').length).toBeGreaterThan(1);
    expect(state).toBe(await binlogState(db2));
    expect(await canLogIn(db1, 'late_user', 'late-pw')).toBe(true);

    // Failover 2, to the rebuilt server: db2 dies holding two writes db1 never received.
    await db1.query('STOP SLAVE IO_THREAD');
    const lost2 = [await cluster.writeSomething(db2, 'lost 2'), await cluster.writeSomething(db2, 'lost 2')];
    await db2.kill9();
    await Promise.all(cluster.routers.map((r) => cluster.waitForRouterTarget(r, db1, 30_000)));
    await db2.start();
    // (inside the anti-flap period of failover 1: an operator's forced check, to db1, which lacks db2's
    // last two writes: the loss accepted by the second flag, the writes salvaged)
    const failover2 = await check('console', {
      target: db1.address,
      allowDataLoss: true,
      reason: 'test: failover to the rebuilt server',
    });
    expect(failover2.operation).toMatchObject({
      operation: 'failover',
      outcome: 'completed',
      target: db1.address,
    });
    const record = failover2.operation!.salvage[0]!;
    expect(record.count).toBe(2);
    expect(record.transactions.map((t) => t.gtid).sort()).toEqual(lost2.map((l) => l.gtid).sort());

    // The account created and the password rotated on db2 work on db1, the new primary.
    expect(await canLogIn(db1, 'late_user', 'late-pw')).toBe(true);
    expect(await canLogIn(db1, app.user, 'app-pw-2')).toBe(true);
    expect(await canLogIn(db1, app.user, 'app-pw-1')).toBe(false);
    const c = await db1.connect({ user: 'late_user', password: 'late-pw' });
    try {
      const [rows] = await c.query('SELECT COUNT(*) AS n FROM harness.writes');
      expect(Number((rows as { n: unknown }[])[0]?.n)).toBeGreaterThan(10);
    } finally {
      await c.end();
    }
    // Failover 3, back to db2 (rebuilt from db1 by failover 2), when db1 lacks nothing: the salvage
    // finds no transaction at all.
    await cluster.waitForReplication(db2);
    await db1.kill9();
    await Promise.all(cluster.routers.map((r) => cluster.waitForRouterTarget(r, db2, 30_000)));
    await db1.start();
    const failover3 = await check('console', { target: db2.address, reason: 'test: back to db2' });
    expect(failover3.operation).toMatchObject({
      operation: 'failover',
      outcome: 'completed',
      target: db2.address,
    });
    expect(failover3.operation!.salvage.flatMap((r) => r.transactions)).toEqual([]);
    expect(failover3.operation!.salvage.reduce((n, r) => n + r.count, 0)).toBe(0);
    expect(await canLogIn(db2, app.user, 'app-pw-2')).toBe(true);
  });
});
