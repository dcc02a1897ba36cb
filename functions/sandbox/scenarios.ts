/**
 * Operator-control scenarios on a real local cluster (MariaDB servers, HAProxy routers): each one
 * sets a situation up, runs the watchdog's cycle as the schedule would, checks what it did and puts the
 * cluster back to Ok for the next one, so a set of them shares one cluster (SCENARIO_SETS). The order
 * matters where a scenario leaves history behind (anti-flap reads it). Used by
 * test/integration/scenarios.test.ts and bench/scenarios.ts (`npm run bench:scenarios`).
 */
import assert from 'node:assert/strict';
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { type Config, parseConfig } from '../config/schema.js';
import { tryParseGtidSet } from '../core/gtid.js';
import { inspectForAdoption } from '../operations/adopt.js';
import { readControl } from '../operations/control-store.js';
import { type CycleReport, runCycle } from '../operations/cycle.js';
import { endMaintenance, startMaintenance } from '../operations/maintenance.js';
import type { Invocation } from '../triggers/events.js';
import { sandboxConfig, sandboxRouterSwitch } from './drill.js';
import { type Cluster, type ServerHandle, startCluster } from './harness/index.js';

export interface ScenarioContext {
  cluster: Cluster;
  config: Config;
  log: (text: string) => void;
}

export interface Scenario {
  name: string;
  run(ctx: ScenarioContext): Promise<void>;
}

const GENEROUS_MS = 90_000;

/** Waits for a condition, polling; throws with `what` when the deadline passes. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  timeoutMs = GENEROUS_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function cycle(ctx: ScenarioContext, invocation: Partial<Invocation> = {}): Promise<CycleReport> {
  return runCycle(
    ctx.config,
    {
      trigger: 'schedule',
      action: 'check',
      group: ctx.cluster.groups[0]!.name,
      dryRun: false,
      force: false,
      ...invocation,
    },
    { routers: sandboxRouterSwitch(ctx.config) },
  );
}

const dry = (ctx: ScenarioContext, extra: Partial<Invocation> = {}) => cycle(ctx, { dryRun: true, ...extra });

/** Ok with `primary`, and every replica's threads running and caught up (not merely reconnecting). */
async function waitOk(ctx: ScenarioContext, primary: ServerHandle): Promise<void> {
  await waitFor(`Ok with primary ${primary.address}`, async () => {
    const r = await dry(ctx);
    return r.analysis?.code === 'Ok' && r.analysis.primary === primary.address;
  });
  const [p] = await primary.query('SELECT @@global.gtid_binlog_pos AS pos');
  const target = tryParseGtidSet(String(p?.pos ?? ''), 'mariadb').set!;
  for (const s of ctx.cluster.servers.filter((x) => x !== primary)) {
    // gtid_current_pos, not MASTER_GTID_WAIT (gtid_slave_pos only): an old primary that rejoined holds
    // the position as its own writes.
    await waitFor(`${s.address} replicating and caught up with ${primary.address}`, async () => {
      const st = await ctx.cluster.replicationStatus(s);
      const [c] = await s.query('SELECT @@global.gtid_current_pos AS pos');
      const current = tryParseGtidSet(String(c?.pos ?? ''), 'mariadb').set;
      return (
        st?.Slave_IO_Running === 'Yes' &&
        st.Slave_SQL_Running === 'Yes' &&
        current !== null &&
        target.isSubsetOf(current)
      );
    });
  }
}

/** Points every router at `to` (the others as fallbacks, in `order`), as an operator would by hand. */
async function routersTo(
  ctx: ScenarioContext,
  to: ServerHandle,
  order: readonly ServerHandle[] = ctx.cluster.servers,
): Promise<void> {
  const sw = sandboxRouterSwitch(ctx.config);
  const destinations = [to.address, ...order.filter((s) => s !== to).map((s) => s.address)];
  for (const g of ctx.cluster.groups) await sw.switch(g.name, { destinations, fenced: [], dryRun: false });
  await Promise.all(ctx.cluster.routers.map((r) => ctx.cluster.waitForRouterTarget(r, to, GENEROUS_MS)));
}

async function sqlRunning(ctx: ScenarioContext, s: ServerHandle): Promise<string | null> {
  const st = await ctx.cluster.replicationStatus(s);
  return st ? String(st.Slave_SQL_Running) : null;
}

/** Kills `dead`, waits until every router moved to `to`. */
async function killAndWaitRouters(ctx: ScenarioContext, dead: ServerHandle, to: ServerHandle): Promise<void> {
  await dead.kill9();
  await Promise.all(ctx.cluster.routers.map((r) => ctx.cluster.waitForRouterTarget(r, to, GENEROUS_MS)));
}

const now = () => Date.now();

/** Two servers: maintenance, then anti-flap. In this order. */
export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'maintenance-stopped-replica-kept',
    async run(ctx) {
      const [db1, db2] = ctx.cluster.servers as [ServerHandle, ServerHandle];
      const started = await startMaintenance(ctx.config, {
        scope: db2.address,
        reason: 'backup with replication stopped',
        minutes: 30,
        by: 'scenario',
        now: now(),
      });
      assert.deepEqual([...started.write.writtenTo].sort(), ctx.cluster.servers.map((s) => s.address).sort());
      await db2.query('STOP SLAVE');
      const report = await cycle(ctx);
      assert.equal(report.analysis?.code, 'RecoverNeeded');
      assert.equal(report.plan?.kind, 'none', report.plan?.reason);
      assert.match(report.plan!.reason, /expected during maintenance/);
      assert.equal(report.operation, undefined);
      assert.equal(await sqlRunning(ctx, db2), 'No', 'the replica was left as the operator stopped it');
      await endMaintenance(ctx.config, { scope: db2.address, by: 'scenario', now: now() });
      await db2.query('START SLAVE');
      await waitOk(ctx, db1);
    },
  },
  {
    name: 'maintenance-server-not-promoted',
    async run(ctx) {
      const [db1, db2] = ctx.cluster.servers as [ServerHandle, ServerHandle];
      await startMaintenance(ctx.config, {
        scope: db2.address,
        reason: 'disk replacement',
        minutes: 30,
        by: 'scenario',
        now: now(),
      });
      // The routers fall back to db2 while db1 is down; db1 comes back before the watchdog runs.
      await killAndWaitRouters(ctx, db1, db2);
      await db1.start();
      const report = await cycle(ctx);
      assert.equal(report.analysis?.code, 'FailoverNeeded');
      assert.equal(report.plan?.kind, 'alert-only', report.plan?.reason);
      assert.deepEqual(report.plan?.suppressed, { operation: 'failover', because: 'maintenance' });
      assert.equal(report.operation, undefined);
      const [ro] = await db1.query('SELECT @@global.read_only AS ro');
      assert.equal(Number(ro?.ro), 0, 'the primary was not fenced');
      assert.ok(await ctx.cluster.replicationStatus(db2), 'db2 was not promoted (still a replica)');
      await endMaintenance(ctx.config, { scope: db2.address, by: 'scenario', now: now() });
      await routersTo(ctx, db1);
      await waitOk(ctx, db1);
    },
  },
  // Anti-flap: the history the operations leave behind decides what the next one may do.
  {
    name: 'switchover-then-new-primary-dies',
    async run(ctx) {
      const [db1, db2] = ctx.cluster.servers as [ServerHandle, ServerHandle];
      const switched = await cycle(ctx, { trigger: 'console', action: 'switchover', target: db2.address });
      assert.equal(
        switched.operation?.outcome,
        'completed',
        JSON.stringify({ error: switched.operation?.error, steps: switched.operation?.steps }),
      );
      const history = (await readControl(ctx.config)).history;
      assert.equal(history.at(-1)?.operation, 'switchover');
      await waitOk(ctx, db2);
      // The new primary dies minutes into the anti-flap period of the switchover.
      await killAndWaitRouters(ctx, db2, db1);
      const report = await waitFor('PrimaryDead', async () => {
        const r = await dry(ctx);
        return r.analysis?.code === 'PrimaryDead' ? r : null;
      });
      assert.equal(report.plan?.kind, 'operation', report.plan?.reason);
      assert.equal(report.coordination?.antiFlapUntil ?? null, null);
      const promoted = await cycle(ctx);
      assert.equal(promoted.operation?.operation, 'promote-dead');
      assert.match(
        promoted.operation?.outcome ?? '',
        /^completed/,
        JSON.stringify({ error: promoted.operation?.error, steps: promoted.operation?.steps }),
      );
      // db2 comes back; the watchdog owes it a rebuild (it fenced it away) and does it.
      await db2.start();
      await waitFor('db2 rebuilt as a replica', async () => {
        const r = await cycle(ctx);
        return r.analysis?.code === 'Ok';
      });
      await waitOk(ctx, db1);
    },
  },
  {
    name: 'failover-then-flap-back-held',
    async run(ctx) {
      const [db1, db2] = ctx.cluster.servers as [ServerHandle, ServerHandle];
      // The previous scenario's promote-dead (an automatic failover) opened the anti-flap period.
      const last = (await readControl(ctx.config)).history.at(-1);
      assert.equal(last?.operation, 'promote-dead');
      await killAndWaitRouters(ctx, db1, db2);
      const held = await waitFor('PrimaryDead', async () => {
        const r = await dry(ctx);
        return r.analysis?.code === 'PrimaryDead' ? r : null;
      });
      assert.equal(held.plan?.kind, 'alert-only', held.plan?.reason);
      assert.equal(held.plan?.suppressed?.operation, 'promote-dead');
      assert.notEqual(held.coordination?.antiFlapUntil ?? null, null);
      const forced = await dry(ctx, { trigger: 'console', force: true, target: db2.address });
      assert.equal(forced.plan?.kind, 'operation', forced.plan?.reason);
      // Put it back without the watchdog: db1 up again and the routers on it.
      await db1.start();
      await routersTo(ctx, db1);
      await waitOk(ctx, db1);
    },
  },
  // Force (core/force.ts): still inside the anti-flap period the promote-dead above opened.
  {
    name: 'forced-failover-target',
    async run(ctx) {
      const [db1, db2] = ctx.cluster.servers as [ServerHandle, ServerHandle];
      // db2 stops receiving, db1 takes a write db2 never gets, then the routers move to db2.
      await db2.query('STOP SLAVE IO_THREAD');
      await ctx.cluster.writeSomething(db1, 'only db1 has it');
      await routersTo(ctx, db2);
      const held = await waitFor('FailoverNeeded', async () => {
        const r = await dry(ctx);
        return r.analysis?.code === 'FailoverNeeded' ? r : null;
      });
      assert.equal(held.plan?.suppressed?.operation, 'failover', held.plan?.reason);
      const force = (extra: Partial<Invocation>) =>
        cycle(ctx, {
          trigger: 'console',
          action: 'failover',
          force: true,
          reason: 'scenario: db1 is being retired',
          ...extra,
        });
      const untargeted = await force({});
      assert.equal(untargeted.plan?.kind, 'alert-only');
      assert.match(untargeted.plan!.reason, /needs an explicit target/);
      const lacking = await force({ target: db2.address });
      assert.equal(lacking.plan?.kind, 'alert-only');
      assert.match(lacking.plan!.reason, new RegExp(`lacks 1 transaction\\(s\\) ${db1.address} holds`));
      assert.equal(lacking.operation, undefined);
      const [ro] = await db1.query('SELECT @@global.read_only AS ro');
      assert.equal(Number(ro?.ro), 0, 'nothing was fenced');
      // The second flag: db1's write is salvaged, db2 promoted, db1 rebuilt from it.
      const done = await force({ target: db2.address, allowDataLoss: true });
      assert.equal(
        done.operation?.outcome,
        'completed',
        JSON.stringify({
          plan: done.plan?.reason,
          error: done.operation?.error,
          steps: done.operation?.steps,
        }),
      );
      assert.equal(done.operation?.target, db2.address);
      assert.deepEqual(done.plan?.forced && { ...done.plan.forced, insteadOf: undefined }, {
        target: db2.address,
        allowDataLoss: true,
        reason: 'scenario: db1 is being retired',
        insteadOf: undefined,
      });
      assert.match(done.plan!.forced!.insteadOf, /held back \(anti-flap/);
      assert.equal(done.operation?.salvage[0]?.count, 1, 'the write only db1 had is salvaged');
      // The newest primary change (entries come back by key, not by time).
      const last = (await readControl(ctx.config)).history.reduce((a, b) => (b.at > a.at ? b : a));
      assert.equal(last.to, db2.address);
      assert.equal(last.forced, true);
      assert.match(last.reason, /scenario: db1 is being retired/);
      await waitOk(ctx, db2);
      // A forced move opens no anti-flap period: a switchover back needs no force.
      const back = await cycle(ctx, { trigger: 'console', action: 'switchover', target: db1.address });
      assert.equal(back.operation?.outcome, 'completed', back.plan?.reason);
      await waitOk(ctx, db1);
    },
  },
  // Hooks (core/hooks.ts, operations/hooks.ts), as local commands: the sandbox's kind of hook.
  {
    name: 'pre-hook-veto',
    async run(ctx) {
      const [db1, db2] = ctx.cluster.servers as [ServerHandle, ServerHandle];
      const vetoing = withHookConfig(ctx, {
        preFailover: { command: 'echo "change freeze until 14:00" >&2; exit 1', timeoutSeconds: 30 },
      });
      await killAndWaitRouters(ctx, db1, db2);
      await waitFor('PrimaryDead', async () => (await dry(vetoing)).analysis?.code === 'PrimaryDead');
      const vetoed = await cycle(vetoing);
      assert.equal(vetoed.operation?.outcome, 'master-failed', JSON.stringify(vetoed.operation?.steps));
      assert.equal(vetoed.operation?.error?.code, 'HookVeto');
      const [hook, ...rest] = vetoed.operation?.steps ?? [];
      assert.equal(hook?.kind, 'Hook');
      assert.equal(hook?.outcome, 'failed');
      assert.match(hook?.detail ?? '', /change freeze until 14:00/);
      assert.deepEqual(rest, [], 'nothing ran after the veto');
      assert.ok(await ctx.cluster.replicationStatus(db2), 'db2 was not promoted (still a replica)');
      // A hook that does not answer decides by onNoAnswer: here, veto.
      const silent = withHookConfig(ctx, {
        preFailover: { command: 'sleep 60', timeoutSeconds: 1, onNoAnswer: 'veto' },
      });
      const unanswered = await cycle(silent);
      assert.equal(unanswered.operation?.error?.code, 'HookVeto');
      assert.match(unanswered.operation?.steps[0]?.detail ?? '', /no answer within 1s/);
      assert.ok(await ctx.cluster.replicationStatus(db2), 'db2 was not promoted (still a replica)');
    },
  },
  {
    name: 'post-hook-called',
    async run(ctx) {
      const [db1, db2] = ctx.cluster.servers as [ServerHandle, ServerHandle];
      // db1 is still dead from the vetoed failover; now the pre-failover hook agrees.
      const told = (name: string) => join(ctx.cluster.dir, `${name}-hook.json`);
      const hooked = withHookConfig(ctx, {
        preFailover: { command: 'cat >/dev/null; echo "no objection"', timeoutSeconds: 30 },
        postFailover: { command: `cat > ${told('post-failover')}; echo "dns updated"`, timeoutSeconds: 30 },
        postSwitchover: { command: `cat > ${told('post-switchover')}`, timeoutSeconds: 30 },
      });
      const report = await cycle(hooked);
      assert.match(
        report.operation?.outcome ?? '',
        /^completed/,
        JSON.stringify({ error: report.operation?.error, steps: report.operation?.steps }),
      );
      const kinds = report.operation!.steps.map((s) => s.kind);
      assert.equal(kinds[0], 'Hook');
      assert.match(report.operation!.steps[0]!.detail, /proceeds.*no objection/);
      // Told right after the routers were verified on the new primary.
      const post = kinds.indexOf('Hook', 1);
      assert.equal(kinds[post - 1], 'VerifyRouters');
      assert.match(report.operation!.steps[post]!.detail, /called.*dns updated/);
      assert.deepEqual(JSON.parse(readFileSync(told('post-failover'), 'utf8')), {
        source: 'mysql-failover.hook',
        phase: 'post-failover',
        cluster: ctx.config.clusterName,
        operation: 'promote-dead',
        from: db1.address,
        to: db2.address,
        reason: report.plan!.reason,
        forced: false,
        openedEpoch: report.operation!.openedEpoch,
      });
      await rebuildBack(hooked, db1, db2);
      // Back to db1 inside the anti-flap period the promote-dead opened: a forced switchover, told too.
      const back = await cycle(hooked, {
        trigger: 'console',
        action: 'switchover',
        target: db1.address,
        force: true,
        reason: 'scenario: back to db1',
      });
      assert.equal(back.operation?.outcome, 'completed', back.plan?.reason);
      const switched = JSON.parse(readFileSync(told('post-switchover'), 'utf8')) as Record<string, unknown>;
      assert.deepEqual(
        [switched.phase, switched.from, switched.to, switched.forced],
        ['post-switchover', db2.address, db1.address, true],
      );
      await waitOk(ctx, db1);
    },
  },
  {
    name: 'co-primary-kept',
    async run(ctx) {
      const [db1, db2] = ctx.cluster.servers as [ServerHandle, ServerHandle];
      // Active–passive co-primaries: db1 replicates from db2 as well (circular replication), from
      // where it stands now (its own binary log), as an operator sets it up.
      // Co-primaries are both writable (a replica the watchdog rebuilt earlier joined read-only).
      const readOnly = async (s: ServerHandle) =>
        Number((await s.query('SELECT @@global.read_only AS ro'))[0]?.ro);
      const wasReadOnly = await readOnly(db2);
      await db2.query('SET GLOBAL read_only = OFF');
      await db1.query('SET GLOBAL gtid_slave_pos = @@global.gtid_binlog_pos');
      await ctx.cluster.startReplication(db1, db2);
      const bothWays = async (writer: ServerHandle, reader: ServerHandle) => {
        const w = await ctx.cluster.writeSomething(writer, 'co-primary');
        await waitFor(`${w.gtid} from ${writer.address} on ${reader.address}`, async () => {
          const [r] = await reader.query('SELECT @@global.gtid_current_pos AS p');
          const pos = tryParseGtidSet(String(r?.p ?? ''), 'mariadb').set;
          return pos !== null && tryParseGtidSet(w.gtid, 'mariadb').set!.isSubsetOf(pos);
        });
      };
      await bothWays(db2, db1);
      const kept = async (primary: ServerHandle) => {
        const before = [await readOnly(db1), await readOnly(db2)];
        const report = await cycle(ctx);
        assert.equal(report.analysis?.code, 'Ok', report.analysis?.evidence.join('\n'));
        assert.equal(report.analysis?.primary, primary.address);
        assert.match(report.analysis!.evidence.join('\n'), /co-primary: .* replicate from each other/);
        assert.equal(report.plan?.kind, 'none', report.plan?.reason);
        assert.equal(report.operation, undefined);
        assert.deepEqual([await readOnly(db1), await readOnly(db2)], before, 'nothing was fenced or opened');
        for (const s of [db1, db2])
          assert.equal(await sqlRunning(ctx, s), 'Yes', `${s.address} still replicates`);
      };
      await kept(db1);
      // The routers move to the passive one while db1 is up (the seed's trigger for a failover): with
      // co-primaries that is a switch between them, not a failover.
      await routersTo(ctx, db2);
      await kept(db2);
      await bothWays(db2, db1);
      await bothWays(db1, db2);
      // A multi-source replica (a second, named connection) is refused: an alert, nothing changes.
      await routersTo(ctx, db1);
      await db1.query('STOP SLAVE');
      await db1.query('RESET SLAVE ALL');
      await db2.query(
        "CHANGE MASTER 'reporting' TO MASTER_HOST = '127.0.0.1', MASTER_PORT = 9, MASTER_USER = 'nobody', MASTER_USE_GTID = no",
      );
      const refused = await cycle(ctx);
      assert.equal(refused.analysis?.code, 'MultiSourceReplica', refused.analysis?.evidence.join('\n'));
      assert.deepEqual(refused.analysis?.affected, [db2.address]);
      assert.equal(refused.plan?.kind, 'alert-only');
      assert.equal(refused.operation, undefined);
      await db2.query("RESET SLAVE 'reporting' ALL");
      if (wasReadOnly) await db2.query('SET GLOBAL read_only = ON');
      await waitOk(ctx, db1);
    },
  },
  {
    name: 'alias-source-adopted',
    async run(ctx) {
      const [db1, db2] = ctx.cluster.servers as [ServerHandle, ServerHandle];
      // As the original script sets it up: the replica reaches its source by a name from /etc/hosts
      // (BDD_PEER there; here this host's own name, which /etc/hosts maps to 127.0.0.1), not by the
      // address in the watchdog's configuration.
      const alias = await loopbackAlias();
      await db2.query('STOP SLAVE');
      await db2.query('CHANGE MASTER TO MASTER_HOST = ?', [alias]);
      await db2.query('START SLAVE');
      await waitFor(`${db2.address} replicating through ${alias}`, async () => {
        const st = await ctx.cluster.replicationStatus(db2);
        return st?.Master_Host === alias && st.Slave_IO_Running === 'Yes' && Number(st.Master_Server_Id) > 0;
      });
      const advice = await inspectForAdoption(ctx.config);
      const found = advice.found.join('\n');
      assert.match(
        found,
        new RegExp(`an alias of ${db1.address} \\(matched by server_id\\): kept, never rebuilt`),
      );
      // Both writable as the script runs them, or a replica the watchdog rebuilt earlier (read-only).
      assert.match(found, /every server is writable|writable: .*; read-only: /);
      assert.deepEqual(
        advice.configuration.servers.map((s) => s.replicationHost),
        [alias, alias],
        JSON.stringify(advice.configuration),
      );
      assert.match(advice.firstRun.join('\n'), /: Ok -> none/);
      const report = await cycle(ctx);
      assert.equal(report.analysis?.code, 'Ok', report.analysis?.evidence.join('\n'));
      assert.equal(report.plan?.kind, 'none');
      assert.equal(report.operation, undefined);
      const st = await ctx.cluster.replicationStatus(db2);
      assert.equal(st?.Master_Host, alias, 'the replica was not rebuilt nor repointed');
      // Put it back to the configured address.
      await db2.query('STOP SLAVE');
      await db2.query('CHANGE MASTER TO MASTER_HOST = ?', [db1.host]);
      await db2.query('START SLAVE');
      await waitOk(ctx, db1);
    },
  },
  {
    name: 'semi-sync-stuck-detected',
    async run(ctx) {
      const [db1] = ctx.cluster.servers as [ServerHandle, ServerHandle];
      const semi = withRules(ctx, [], { semiSync: true });
      // db1 waits for acknowledgements (no fallback to async within the test), the replica gives none.
      await db1.query('SET GLOBAL rpl_semi_sync_master_timeout = 600000');
      await db1.query('SET GLOBAL rpl_semi_sync_master_enabled = ON');
      const pending = ctx.cluster.writeSomething(db1, 'waits for an acknowledgement');
      const stuck = await waitFor('SemiSyncStuck', async () => {
        const r = await dry(semi);
        return r.analysis?.code === 'SemiSyncStuck' ? r : null;
      });
      assert.deepEqual(stuck.analysis?.affected, [db1.address]);
      assert.equal(stuck.plan?.kind, 'alert-only');
      assert.equal(stuck.operation, undefined);
      // Released as an operator would (a replica turned semi-sync afterwards would not acknowledge a
      // transaction it already received); semi-sync off as the next scenarios expect it.
      await db1.query('SET GLOBAL rpl_semi_sync_master_enabled = OFF');
      await pending;
      await db1.query('SET GLOBAL rpl_semi_sync_master_timeout = 10000');
      await waitOk(ctx, db1);
    },
  },
  {
    name: 'semi-sync-reenabled',
    async run(ctx) {
      const [db1, db2] = ctx.cluster.servers as [ServerHandle, ServerHandle];
      const semi = withRules(ctx, [], { semiSync: true });
      // The initial pair runs semi-sync, set up as an operator does: a replica acknowledges from its
      // IO thread's next connection on.
      await db1.query('SET GLOBAL rpl_semi_sync_master_enabled = ON');
      await db2.query('SET GLOBAL rpl_semi_sync_slave_enabled = ON');
      await db2.query('STOP SLAVE IO_THREAD');
      await db2.query('START SLAVE IO_THREAD');
      await acknowledgedSemiSync(ctx, db1, db2);
      // The watchdog moves the primary both ways; each time the new pair acknowledges again.
      for (const [to, from] of [
        [db2, db1],
        [db1, db2],
      ] as const) {
        const switched = await cycle(semi, { trigger: 'console', action: 'switchover', target: to.address });
        assert.equal(
          switched.operation?.outcome,
          'completed',
          JSON.stringify({
            plan: switched.plan?.reason,
            error: switched.operation?.error,
            steps: switched.operation?.steps,
          }),
        );
        assert.ok(
          switched.operation!.steps.some((s) => s.kind === 'SemiSync'),
          'the switchover set semi-sync up on the new topology',
        );
        await acknowledgedSemiSync(ctx, to, from);
      }
      // A failover: db1 dies, db2 is promoted and waits for acknowledgements (none until a replica
      // acknowledges: commits fall back to asynchronous after rpl_semi_sync_master_timeout); db1,
      // rebuilt when it returns, acknowledges.
      await promotedAfterDeath(semi, db1, db2);
      assert.equal(await globalVariable(db2, 'rpl_semi_sync_master_enabled'), 1, `${db2.address} waits`);
      await db1.start();
      await waitFor(
        `${db1.address} rebuilt`,
        async () => (await cycle(semi)).analysis?.code === 'Ok',
        240_000,
      );
      await acknowledgedSemiSync(ctx, db2, db1);
      const back = await cycle(semi, { trigger: 'console', action: 'switchover', target: db1.address });
      assert.equal(back.operation?.outcome, 'completed', back.plan?.reason);
      await acknowledgedSemiSync(ctx, db1, db2);
      // Semi-sync off again, as the other scenarios expect it.
      for (const s of [db1, db2]) {
        await s.query('SET GLOBAL rpl_semi_sync_master_enabled = OFF');
        await s.query('SET GLOBAL rpl_semi_sync_slave_enabled = OFF');
      }
      await db2.query('STOP SLAVE IO_THREAD');
      await db2.query('START SLAVE IO_THREAD');
      await waitOk(ctx, db1);
    },
  },
];

async function globalStatus(s: ServerHandle, name: string): Promise<string> {
  const [r] = await s.query('SHOW GLOBAL STATUS LIKE ?', [name]);
  return String(r?.Value ?? '');
}

async function globalVariable(s: ServerHandle, name: string): Promise<number> {
  const [r] = await s.query(`SELECT @@global.${name} AS v`);
  return Number(r?.v);
}

/**
 * On real MariaDB: `primary` waits for acknowledgements and has a semi-sync client, `replica`
 * acknowledges, and a write on `primary` is acknowledged semi-synchronously (Rpl_semi_sync_master_yes_tx
 * grows) rather than after the master timeout (Rpl_semi_sync_master_no_tx).
 */
async function acknowledgedSemiSync(
  ctx: ScenarioContext,
  primary: ServerHandle,
  replica: ServerHandle,
): Promise<void> {
  assert.equal(await globalVariable(primary, 'rpl_semi_sync_master_enabled'), 1, `${primary.address} waits`);
  assert.equal(
    await globalVariable(replica, 'rpl_semi_sync_slave_enabled'),
    1,
    `${replica.address} acknowledges`,
  );
  await waitFor(`${primary.address} has a semi-sync client`, async () => {
    const clients = Number(await globalStatus(primary, 'Rpl_semi_sync_master_clients'));
    return clients >= 1 && (await globalStatus(replica, 'Rpl_semi_sync_slave_status')) === 'ON';
  });
  const yes = Number(await globalStatus(primary, 'Rpl_semi_sync_master_yes_tx'));
  const no = Number(await globalStatus(primary, 'Rpl_semi_sync_master_no_tx'));
  await ctx.cluster.writeSomething(primary, 'acknowledged semi-synchronously');
  const after = {
    yes: Number(await globalStatus(primary, 'Rpl_semi_sync_master_yes_tx')),
    no: Number(await globalStatus(primary, 'Rpl_semi_sync_master_no_tx')),
  };
  assert.ok(
    after.yes > yes,
    `${primary.address}: the write was acknowledged (yes_tx ${yes} -> ${after.yes})`,
  );
  assert.equal(after.no, no, `${primary.address}: no write went without an acknowledgement`);
}

/** A copy of the context's configuration with these hooks (the schema's output form). */
function withHookConfig(ctx: ScenarioContext, hooks: Config['hooks']): ScenarioContext {
  return { ...ctx, config: { ...ctx.config, hooks } };
}

/** A name other than 127.0.0.1 that resolves to it (this host's name in /etc/hosts, else `127.1`). */
async function loopbackAlias(): Promise<string> {
  const name = hostname();
  const found = await lookup(name, { family: 4 }).catch(() => null);
  return found?.address === '127.0.0.1' ? name : '127.1';
}

/** A copy of the context's configuration with per-server promotion rules (by server handle), no anti-flap. */
function withRules(
  ctx: ScenarioContext,
  rules: Array<[ServerHandle, 'prefer' | 'neutral' | 'never']>,
  extra: Record<string, unknown> = {},
): ScenarioContext {
  const raw = ctx.cluster.config();
  const config = parseConfig(
    {
      ...raw,
      ...extra,
      election: ctx.config.election,
      timeouts: ctx.config.timeouts,
      // These scenarios promote one after the other: anti-flap has its own scenarios.
      antiFlapSeconds: 0,
      servers: raw.servers.map((s) => ({
        ...s,
        promotion: rules.find(([h]) => h.port === s.port)?.[1] ?? 'neutral',
      })),
    },
    'scenario promotion rules',
  );
  return { ...ctx, config };
}

async function promotedAfterDeath(ctx: ScenarioContext, dead: ServerHandle, fallback: ServerHandle) {
  await killAndWaitRouters(ctx, dead, fallback);
  await waitFor('PrimaryDead', async () => (await dry(ctx)).analysis?.code === 'PrimaryDead');
  const report = await cycle(ctx);
  assert.equal(report.operation?.operation, 'promote-dead', report.plan?.reason);
  assert.match(
    report.operation?.outcome ?? '',
    /^completed/,
    JSON.stringify({ error: report.operation?.error, steps: report.operation?.steps }),
  );
  return report;
}

/** Brings `dead` back; the watchdog owes it a rebuild and does it until the cluster is Ok. */
async function rebuildBack(ctx: ScenarioContext, dead: ServerHandle, primary: ServerHandle): Promise<void> {
  await dead.start();
  await waitFor(`${dead.address} rebuilt`, async () => (await cycle(ctx)).analysis?.code === 'Ok', 240_000);
  await waitOk(ctx, primary);
}

/** Three servers: db1 primary, db2 the routers' first fallback, db3 the second. In this order. */
export const PROMOTION_SCENARIOS: readonly Scenario[] = [
  {
    name: 'most-complete-replica-promoted',
    async run(ctx) {
      const [db1, db2, db3] = ctx.cluster.servers as [ServerHandle, ServerHandle, ServerHandle];
      // db2 (the routers' first fallback) stops receiving; db3 gets writes db2 never sees.
      await db2.query('STOP SLAVE IO_THREAD');
      for (let i = 0; i < 3; i++) await ctx.cluster.writeSomething(db1, 'only db3 has it');
      await waitFor('db3 caught up', async () => {
        const [a] = await db1.query('SELECT @@global.gtid_binlog_pos AS p');
        const [b] = await db3.query('SELECT @@global.gtid_slave_pos AS p');
        return String(a?.p) === String(b?.p);
      });
      const report = await promotedAfterDeath(ctx, db1, db2);
      assert.equal(report.operation?.target, db3.address, 'the replica holding every write is promoted');
      const st = await ctx.cluster.replicationStatus(db2);
      assert.equal(`${String(st?.Master_Host)}:${String(st?.Master_Port)}`, db3.address);
      await rebuildBack(ctx, db1, db3);
    },
  },
  {
    name: 'never-promote-respected',
    async run(ctx) {
      const [db1, db2, db3] = ctx.cluster.servers as [ServerHandle, ServerHandle, ServerHandle];
      // db3 is primary now. db2 is backup-only (promotion: never), but the routers were set up before
      // that rule and fall back to it first.
      const rules = withRules(ctx, [[db2, 'never']]);
      await routersTo(rules, db3, [db3, db2, db1]);
      const report = await promotedAfterDeath(rules, db3, db2);
      assert.equal(report.operation?.target, db1.address, 'db2 (never) was not promoted');
      assert.match(report.plan?.reason ?? '', /promoted instead of/);
      const st = await ctx.cluster.replicationStatus(db2);
      assert.equal(`${String(st?.Master_Host)}:${String(st?.Master_Port)}`, db1.address);
      // The routers the watchdog wrote keep db2 out of the fallbacks.
      const sw = report.operation?.steps.find((x) => x.kind === 'SwitchRouters');
      assert.deepEqual((sw?.data as { destinations?: string[] } | undefined)?.destinations, [db1.address]);
      await rebuildBack(rules, db3, db1);
    },
  },
  {
    name: 'delayed-replica-not-promoted',
    async run(ctx) {
      const [db1, db2, db3] = ctx.cluster.servers as [ServerHandle, ServerHandle, ServerHandle];
      // db1 is primary again. db3 is a delayed replica (MASTER_DELAY, a guard against a bad statement),
      // preferred by rule and the routers' first fallback: only the delay keeps it from being promoted.
      const rules = withRules(ctx, [[db3, 'prefer']]);
      const delay = async (seconds: number) => {
        await db3.query('STOP SLAVE');
        await db3.query(`CHANGE MASTER TO MASTER_DELAY = ${seconds}`);
        await db3.query('START SLAVE');
      };
      await delay(3600);
      await routersTo(rules, db1, [db1, db3, db2]);
      const report = await promotedAfterDeath(rules, db1, db3);
      assert.equal(report.operation?.target, db2.address, 'the delayed replica was not promoted');
      assert.match(
        report.plan?.reason ?? '',
        new RegExp(`${db2.address} promoted instead of ${db3.address}`),
      );
      // No router falls back to it either (db1 is fenced, db3 delayed).
      const sw = report.operation?.steps.find((x) => x.kind === 'SwitchRouters');
      assert.deepEqual((sw?.data as { destinations?: string[] } | undefined)?.destinations, [db2.address]);
      // It follows the new primary, still delayed.
      const st = await ctx.cluster.replicationStatus(db3);
      assert.equal(`${String(st?.Master_Host)}:${String(st?.Master_Port)}`, db2.address);
      assert.equal(Number(st?.SQL_Delay), 3600);
      await delay(0);
      // Leaves db2 the primary, db1 and db3 its replicas.
      await rebuildBack(rules, db1, db2);
    },
  },
];

export interface ScenarioResult {
  name: string;
  passed: boolean;
  ms: number;
  error?: string;
}

/** The scenarios by cluster they run on, in order (a set shares one cluster). */
export const SCENARIO_SETS: ReadonlyArray<{ servers: 2 | 3; scenarios: readonly Scenario[] }> = [
  { servers: 2, scenarios: SCENARIOS },
  { servers: 3, scenarios: PROMOTION_SCENARIOS },
];

/** Runs every set on its own cluster (one at a time); a failure skips the rest of its set. */
export async function runScenarios(
  options: { log?: (text: string) => void; clusterName?: string } = {},
): Promise<ScenarioResult[]> {
  const log = options.log ?? (() => {});
  const results: ScenarioResult[] = [];
  for (const set of SCENARIO_SETS) {
    const cluster = await startCluster({
      servers: set.servers,
      groups: 1,
      name: `${options.clusterName ?? 'scenarios'}-${set.servers}`,
    });
    try {
      const config = sandboxConfig(cluster, 'scenarios');
      for (let i = 0; i < 5; i++) await cluster.writeSomething();
      for (const replica of cluster.servers.slice(1)) await cluster.waitForReplication(replica);
      for (const s of set.scenarios) {
        const t0 = performance.now();
        try {
          await s.run({ cluster, config, log });
          results.push({ name: s.name, passed: true, ms: Math.round(performance.now() - t0) });
        } catch (error) {
          results.push({
            name: s.name,
            passed: false,
            ms: Math.round(performance.now() - t0),
            error: error instanceof Error ? (error.stack ?? error.message) : String(error),
          });
          // A failed scenario may leave the cluster in any state: the ones after it would fail for it.
          break;
        }
        log(`${s.name}: ${results.at(-1)!.ms} ms`);
      }
    } finally {
      await cluster.stop();
    }
  }
  return results;
}
