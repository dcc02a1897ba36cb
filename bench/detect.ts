/**
 * bench:detect — how long writes stop when the primary dies, when nothing but the deployed triggers
 * start the watchdog: the backend watchers' events through the stack's rules (and the 10-minute
 * schedule). No alarm, no test invoke.
 *
 *   2 MariaDB servers with read_only=ON in their configuration (the recommended mode: writes stop at the
 *   death and resume only when the watchdog promotes the replica), 3 backend groups with 2 backends each
 *   (a sticky HAProxy router per backend; --routers-per-group=N), a writer through every router
 *   recording each acknowledged write;
 *   one watcher per router (infra/watcher/watcher.sh, the installed defaults: 250 ms, 5 s gap, 30 s
 *   repeat) sending signed PutEvents to the EventBridge stand-in (functions/sandbox/eventbridge.ts);
 *   the stand-in's rules are the ones the stack deploys (infra/deployment/index.cjs `build`, run on a
 *   deployment of this cluster), each targeting its group's function: a warm container of the watchdog
 *   handler that runs its events one at a time (bench/detect-function.ts, reserved concurrency 1).
 *   Each trial waits for a healthy cluster, waits a random 0-3 s, kill -9's the primary, and measures
 *   the outage: per router, the longest gap between two of its acknowledged writes from 5 s before the
 *   kill to 1 s after every router has written to the new primary; the trial's outage is the longest. Then the old primary is restarted and rebuilt
 *   (console `check` invokes of every group, as an operator would) before the next trial kills the
 *   other server.
 *
 * NOT YET the production mode of the sandbox (issue 12: the bundle against a stand-in of the AWS APIs,
 * configured from an SSM parameter): the handler runs from the sources with a config file, and the
 * EventBridge-to-Lambda hop is a pipe (in AWS it adds its own delivery latency, typically well under a
 * second, and a cold start when the container was reclaimed).
 *
 * Options: --trials=N (default 20), --routers-per-group=N (default 2), --seed=N. Last line:
 * {"bench":"detect","trials":…,"mechanism":"…","p50OutageS":…,"maxOutageS":…,"lostAckedWrites":…,"monthlyCostUsd":…}
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseYaml } from 'yaml';
import { EventBridgeStandIn, type EventPattern } from '../functions/sandbox/eventbridge.js';
import { type Cluster, type ServerHandle, startCluster } from '../functions/sandbox/harness/index.js';
import { WatcherProcess } from '../functions/sandbox/watcher.js';
import {
  AckWriter,
  WRITER_SCHEMA,
  WRITER_TABLE,
  writerSetupStatements,
} from '../functions/sandbox/writer.js';
import { baseMonthlyUsd, costSummary, pushMonthlyUsd } from './detect-cost.js';

const arg = (name: string, dflt: number): number =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt);
const trials = arg('trials', 20);
/** Backends (routers, watchers, writers) per group: 2 in the documented cluster, 1 for a lighter run. */
const routersPerGroup = arg('routers-per-group', 2);
let seed = arg('seed', 2026);
const random = (): number => {
  // mulberry32: a repeatable sequence of kill moments for a given --seed.
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const require = createRequire(import.meta.url);
const ROOT = join(import.meta.dirname, '..');
const deployment = require('../infra/deployment/index.cjs') as {
  build: (d: unknown) => {
    functions: Record<string, { events: Record<string, unknown>[]; environment: Record<string, unknown> }>;
  };
  normalize: (
    raw: unknown,
    opts: { service: string; stage: string },
  ) => { groups: { name: string; key: string }[] };
};
const detect = require('../infra/deployment/detect.cjs') as { busName: (d: unknown) => string };

const CLUSTER_NAME = 'benchdetect';
const APP = { user: 'app_writer', password: 'app-writer-pw' };

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface InvocationResult {
  id: number;
  startMs: number;
  endMs: number;
  ok: boolean;
  skipped: string | null;
  code: string | null;
  operation: string | null;
  error: string | null;
  salvaged: string[];
  trigger?: string;
}

/** One group's function: a warm container that runs its events one at a time (reserved concurrency 1). */
class GroupFunction {
  readonly results: InvocationResult[] = [];
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, { trigger: string; resolve: (r: InvocationResult) => void }>();
  private nextId = 1;

  constructor(
    readonly group: string,
    env: Record<string, string>,
    logPath: string,
  ) {
    const log = createWriteStream(logPath);
    this.child = spawn(
      process.execPath,
      [join(ROOT, 'bin/run-ts.mjs'), join(ROOT, 'bench/detect-function.ts')],
      {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
        stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
      },
    );
    this.child.stdout?.pipe(log);
    this.child.stderr?.pipe(log);
    createInterface({ input: this.child.stdio[3] as NodeJS.ReadableStream }).on('line', (text) => {
      const result = JSON.parse(text) as InvocationResult;
      const waiter = this.pending.get(result.id);
      this.pending.delete(result.id);
      result.trigger = waiter?.trigger;
      this.results.push(result);
      waiter?.resolve(result);
    });
  }

  /** An asynchronous invoke (EventBridge target): queued, answered later. */
  invoke(event: unknown, trigger: string): Promise<InvocationResult> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, { trigger, resolve });
      this.child.stdin?.write(`${JSON.stringify({ id, event })}\n`);
    });
  }

  /** Resolves once every event given so far has run. */
  async idle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.pending.size > 0) {
      if (Date.now() > deadline)
        throw new Error(`${this.group}: ${this.pending.size} invocation(s) still running`);
      await sleep(50);
    }
  }

  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.child.on('close', resolve));
    this.child.stdin?.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 60_000);
    await exited;
    clearTimeout(timer);
  }
}

/** The deployment of this cluster, as deploy/<stage>.yml would describe it: groups g1..g3, no alarms. */
function deploymentOf(cluster: Cluster) {
  const raw = parseYaml(readFileSync(join(ROOT, 'deploy', 'sample.yml'), 'utf8')) as Record<string, unknown>;
  delete raw.watchdog;
  raw.cluster = CLUSTER_NAME;
  raw.groups = cluster.groups.map((g) => ({ name: g.name }));
  return deployment.normalize(raw, { service: 'mysql-failover', stage: 'bench' });
}

async function main(): Promise<number> {
  const cluster = await startCluster({
    servers: 2,
    groups: 3,
    routersPerGroup,
    routerMode: 'sticky',
    readOnlyServers: true,
    name: 'bench-detect',
  });
  const bridge = new EventBridgeStandIn();
  const watchers: WatcherProcess[] = [];
  const functions = new Map<string, GroupFunction>();
  const timers: NodeJS.Timeout[] = [];
  let writer: AckWriter | undefined;
  try {
    await bridge.start();
    // The watchdog configuration: the cluster's, with the sandbox's short election timings and no
    // anti-flap period (trials kill a primary every half minute; production keeps 3600 s).
    const configPath = join(cluster.dir, 'bench-detect.json');
    writeFileSync(
      configPath,
      JSON.stringify({
        ...cluster.config(),
        clusterName: CLUSTER_NAME,
        election: { leaseMs: 10_000, followerTimeoutMs: 60_000, pollMs: 100 },
        timeouts: { connectMs: 1_000, queryMs: 5_000, deadlineMarginMs: 20_000 },
        antiFlapSeconds: 0,
      }),
      { mode: 0o600 },
    );

    // The functions and their triggers, as the stack deploys them.
    const d = deploymentOf(cluster);
    const built = deployment.build(d);
    const bus = detect.busName(d);
    for (const group of d.groups) {
      const fn = new GroupFunction(
        group.name,
        {
          GROUP: group.name,
          CONFIG_FILE: configPath,
          AWS_REGION: bridge.region,
          POWERTOOLS_SERVICE_NAME: 'mysql-failover',
        },
        join(cluster.dir, `function-${group.name}.log`),
      );
      functions.set(group.name, fn);
      for (const event of built.functions[group.key]!.events) {
        const eb = event.eventBridge as { pattern: EventPattern; eventBus?: unknown } | undefined;
        const schedule = event.schedule as { rate: string[]; input: unknown } | undefined;
        if (eb?.eventBus) {
          bridge.addRule({
            name: `${group.key}-watcher`,
            eventBusName: bus,
            pattern: eb.pattern,
            target: (e) => void fn.invoke(e, 'watcher'),
          });
        } else if (schedule) {
          if (schedule.rate[0] !== 'rate(10 minutes)')
            throw new Error(`unexpected schedule ${schedule.rate[0]}`);
          timers.push(setInterval(() => void fn.invoke(schedule.input, 'schedule'), 600_000));
        }
      }
    }

    for (const sql of writerSetupStatements(APP.user, APP.password)) await cluster.primary.query(sql);
    for (const r of cluster.replicas) await cluster.waitForReplication(r);
    for (const group of cluster.groups) {
      for (const router of group.routers) {
        const w = new WatcherProcess({
          dir: cluster.dir,
          name: `watcher-${group.name}-${router.port}`,
          env: {
            MFW_CLUSTER: CLUSTER_NAME,
            MFW_GROUP: group.name,
            MFW_ROUTER_KIND: 'haproxy',
            MFW_CONFIG_PATH: router.configPath,
            MFW_SECTION: 'mysql_failover',
            MFW_EVENT_BUS: bus,
            MFW_REGION: bridge.region,
            MFW_ENDPOINT: bridge.endpoint,
            MFW_BACKEND: `backend-${group.name}-${router.port}`,
            AWS_ACCESS_KEY_ID: bridge.credentials.accessKeyId,
            AWS_SECRET_ACCESS_KEY: bridge.credentials.secretAccessKey,
            AWS_SESSION_TOKEN: bridge.credentials.sessionToken,
          },
        });
        w.start();
        watchers.push(w);
        await w.waitForOutput('watcher: up:', 60_000);
      }
    }
    // Warm containers, as the schedule's runs leave them: the sources compile on a first run here, which
    // takes seconds on a loaded machine; the bundle's cold start in Lambda is about 0.25-0.5 s (bench:check).
    await Promise.all([...functions.values()].map((f) => f.invoke({ action: 'status' }, 'console')));
    // One writer per router, labelled by its router, so each router's gap is measured on its own.
    const labels = cluster.groups.flatMap((g) => g.routers.map((r) => `${g.name}/${r.port}`));
    writer = new AckWriter(
      cluster.groups.flatMap((g) =>
        g.routers.map((r) => ({ group: `${g.name}/${r.port}`, host: r.host, port: r.port })),
      ),
      APP,
      20,
    );
    writer.start();

    const outages: number[] = [];
    const lines: string[] = [];
    let primary: ServerHandle = cluster.servers[0]!;
    let replica: ServerHandle = cluster.servers[1]!;
    for (let trial = 1; trial <= trials; trial++) {
      // Healthy: every router acknowledges writes on the primary, the replica replicates.
      await cluster.waitForReplication(replica, 120_000);
      const since = Date.now();
      for (let i = 0; writer.firstAckOn(primary.serverId, since).size < labels.length; i++) {
        if (i > 600)
          throw new Error(`trial ${trial}: writes do not reach ${primary.name} through every router`);
        await sleep(100);
      }
      await sleep(Math.round(random() * 3_000));
      const before = bridge.received.length;
      const invocationsBefore = [...functions.values()].map((f) => f.results.length);
      const killAt = Date.now();
      await primary.kill9();
      let recoveredAt = 0;
      for (let i = 0; ; i++) {
        const firsts = writer.firstAckOn(replica.serverId, killAt);
        if (firsts.size === labels.length) {
          recoveredAt = Math.max(...firsts.values());
          break;
        }
        if (i > 1_200)
          throw new Error(
            `trial ${trial}: no write on ${replica.name} through every router 120 s after the kill`,
          );
        await sleep(50);
      }
      // The outage through each router: the longest gap between two of its acknowledged writes around
      // the kill (an INSERT in flight at the kill may still be acknowledged just after it).
      let outage = 0;
      for (const label of labels) {
        const acks = writer.acks
          .filter((a) => a.group === label && a.atMs >= killAt - 5_000 && a.atMs <= recoveredAt + 1_000)
          .map((a) => a.atMs)
          .sort((a, b) => a - b);
        for (let i = 1; i < acks.length; i++) outage = Math.max(outage, acks[i]! - acks[i - 1]!);
      }
      outages.push(outage / 1000);
      // Let every invocation the events started finish (and the late watchers' events arrive).
      await sleep(1_000);
      await Promise.all([...functions.values()].map((f) => f.idle(120_000)));
      const events = bridge.received.slice(before);
      const firstEvent = events[0]?.atMs;
      const runs = [...functions.values()].flatMap((f, i) => f.results.slice(invocationsBefore[i]));
      const full = runs.filter((r) => !r.skipped);
      const line =
        `trial ${trial}: kill ${primary.name} -> first event +${firstEvent ? firstEvent - killAt : '?'} ms, ` +
        `writes on ${replica.name} through every router +${recoveredAt - killAt} ms; outage ${(outage / 1000).toFixed(2)} s; ` +
        `${events.length} event(s), ${full.length} cycle(s) [${full.map((r) => `${r.trigger}:${r.code}${r.operation ? `/${r.operation}` : ''} +${r.startMs - killAt}..${r.endMs - killAt} ms`).join(', ')}], ` +
        `${runs.length - full.length} coalesced`;
      lines.push(line);
      process.stdout.write(`${line}\n`);

      // Rebuild the old primary before the next trial (an operator's console checks), then swap roles.
      await primary.start();
      let rebuilt = false;
      for (let attempt = 1; attempt <= 10 && !rebuilt; attempt++) {
        await Promise.all([...functions.values()].map((f) => f.invoke({ action: 'check' }, 'console')));
        const status = await cluster.replicationStatus(primary);
        rebuilt = status?.Slave_IO_Running === 'Yes' && status?.Slave_SQL_Running === 'Yes';
        if (!rebuilt) await sleep(1_000);
      }
      if (!rebuilt)
        throw new Error(`trial ${trial}: ${primary.name} was not rebuilt as a replica of ${replica.name}`);
      [primary, replica] = [replica, primary];
    }

    const stats = await writer.stop();
    const ackedIds = writer.ids();
    writer = undefined;
    // Every acknowledged write must be on the final primary (or, if not, in a salvage record).
    await cluster.waitForReplication(replica, 120_000).catch(() => undefined);
    const present = new Set(
      (await primary.query<{ id: string }[]>(`SELECT id FROM ${WRITER_SCHEMA}.${WRITER_TABLE}`)).map((r) =>
        String(r.id),
      ),
    );
    const salvaged = new Set([...functions.values()].flatMap((f) => f.results.flatMap((r) => r.salvaged)));
    const acked = stats.acked;
    const lost = [...ackedIds].filter((id) => !present.has(id));
    const unexplained = lost.filter((id) => !salvaged.has(`@1=${id}`));

    const costs = costSummary();
    const load = loadavg()
      .map((l) => l.toFixed(1))
      .join(' ');
    process.stdout.write(
      `load average ${load}; ${trials} trials; outages (s) ${outages.map((o) => o.toFixed(2)).join(' ')}; ` +
        `acknowledged ${acked}; missing on the final primary ${lost.length} (not in a salvage record: ${unexplained.length}); ` +
        `monthly cost: base check ${costs.baseUsd} USD (every mode), push detection +${pushMonthlyUsd().toFixed(4)} USD, ` +
        `a 1-minute watch loop would be +${costs.watchUsd} USD (+${costs.watch128Usd} at 128 MB)\n`,
    );
    process.stdout.write(
      `${JSON.stringify({
        bench: 'detect',
        trials,
        mechanism:
          'push: watcher on each backend (HAProxy runtime API) -> signed PutEvents -> the group rule -> watchdog (sandbox drill path, not yet production mode)',
        p50OutageS: Math.round(median(outages) * 100) / 100,
        maxOutageS: Math.round(Math.max(...outages) * 100) / 100,
        lostAckedWrites: lost.length,
        // The detection mode's own cost, above the base check every mode pays (baseMonthlyCostUsd).
        monthlyCostUsd: Math.round(pushMonthlyUsd() * 10_000) / 10_000,
        baseMonthlyCostUsd: Math.round(baseMonthlyUsd() * 100) / 100,
      })}\n`,
    );
    return 0;
  } finally {
    for (const t of timers) clearInterval(t);
    await writer?.stop();
    await Promise.all(watchers.map((w) => w.stop()));
    await Promise.all([...functions.values()].map((f) => f.stop()));
    await bridge.stop();
    await cluster.stop();
  }
}

process.exitCode = await main();
