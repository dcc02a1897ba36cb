/**
 * bench:detect — how long writes stop when the primary dies, when nothing but the deployed triggers
 * start the watchdog, in the PRODUCTION mode of the sandbox (functions/sandbox/production):
 *
 *   2 MariaDB servers with read_only=ON in their configuration (the recommended mode: writes stop at the
 *   death and resume only when the watchdog promotes the replica), 3 backend groups with 2 backends each
 *   (a sticky HAProxy router per backend; --routers-per-group=N), a writer through every router
 *   recording each acknowledged write;
 *   the deployment of this cluster packaged by osls exactly as `npm run deploy` would (a deployment file
 *   in the shape of deploy/sample.yml, DEPLOY_CONFIG), and the bundle `npm run package` zips, each
 *   invocation a fresh Node process of it (a cold start), configured from an SSM parameter, its AWS calls
 *   answered by the AWS stand-in, routers switched through the real SSM document;
 *   on every backend (a stand-in EC2 instance carrying its group's tag) the watcher installed by the
 *   template's SSM document with its association's parameters, started as its systemd unit starts it,
 *   signing PutEvents with the instance role's credentials (IMDSv2 stand-in) to the stand-in's
 *   EventBridge endpoint, which checks the signature and matches the template's rules; each rule starts
 *   its group's function with EventBridge's envelope, one run at a time per function (reserved
 *   concurrency 1), and the template's 10-minute schedules run too (functions/sandbox/production/detection.ts).
 *   Each trial waits for a healthy cluster, waits a random 0-3 s, kill -9's the primary, and measures
 *   the outage: per router, the longest gap between two of its acknowledged writes from 5 s before the
 *   kill to 1 s after every router has written to the new primary; the trial's outage is the longest.
 *   Then the old primary is restarted and rebuilt (console `check` invokes of every group, as an
 *   operator would) before the next trial kills the other server.
 *
 * Options: --trials=N (default 20), --routers-per-group=N (default 2), --seed=N. Last line:
 * {"bench":"detect","trials":…,"mechanism":"…","p50OutageS":…,"maxOutageS":…,"lostAckedWrites":…,"monthlyCostUsd":…}
 */
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ServerHandle, startCluster } from '../functions/sandbox/harness/index.js';
import {
  DeployedDetection,
  deploymentFileOf,
  packageDeployment,
  type TriggeredRun,
} from '../functions/sandbox/production/detection.js';
import { ProductionEnvironment, productionEvents } from '../functions/sandbox/production/environment.js';
import {
  AckWriter,
  WRITER_SCHEMA,
  WRITER_TABLE,
  writerSetupStatements,
} from '../functions/sandbox/writer.js';
import { costSummary } from './detect-cost.js';

const arg = (name: string, dflt: number): number =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt);
const trials = arg('trials', 20);
/** Backends (routers, watchers, writers) per group: 2 in the documented cluster, 1 for a lighter run. */
const routersPerGroup = arg('routers-per-group', 2);
/**
 * Minutes after which no new trial starts (default: none): on a machine shared with other benchmarks a
 * trial can take minutes; the summary then counts the trials that ran and says the budget cut the run.
 */
const budgetMin = arg('budget-min', 0);
let seed = arg('seed', 2026);
const random = (): number => {
  // mulberry32: a repeatable sequence of kill moments for a given --seed.
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const CLUSTER_NAME = 'benchdetect';
const STAGE = 'bench';
const APP = { user: 'app_writer', password: 'app-writer-pw' };

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

// biome-ignore lint/suspicious/noExplicitAny: JSON-shaped report access
type Json = any;

/** What a run reported, for the per-trial line. */
function describeRun(r: TriggeredRun, killAt: number): string {
  const report = r.outcome.result?.report as Json;
  const what = report
    ? `${report.analysis?.code ?? '?'}${report.operation ? `/${report.operation.operation} (${report.operation.role})` : ''}`
    : r.outcome.result?.ok === true
      ? 'skipped'
      : `failed: ${r.outcome.thrown?.message ?? r.outcome.result?.error?.message ?? `exit ${r.outcome.exitCode}`}`;
  let detail = '';
  if (report?.operation) {
    // Where the master's time went: the bundle's start (process spawn to the cycle's start), the
    // observation, then each step of the operation (kind and duration).
    const init = Date.parse(report.startedAt) - r.startMs;
    const steps = ((report.operation.steps ?? []) as Json[])
      .filter((st) => st.durationMs >= 100)
      .map((st) => `${st.kind}${st.target ? `(${st.target})` : ''} ${st.durationMs}`)
      .join(', ');
    detail = ` {init ${init}, observe ${report.timings?.observeMs ?? '?'}, steps ≥100 ms: ${steps}}`;
  }
  return `${r.trigger}:${what} queued +${r.queuedAtMs - killAt} ran +${r.startMs - killAt}..${r.endMs - killAt} ms${detail}`;
}

async function main(): Promise<number> {
  const startedAt = new Date().toISOString();
  const cluster = await startCluster({
    servers: 2,
    groups: 3,
    routersPerGroup,
    routerMode: 'sticky',
    readOnlyServers: true,
    name: CLUSTER_NAME,
  });
  let env: ProductionEnvironment | undefined;
  let detection: DeployedDetection | undefined;
  let writer: AckWriter | undefined;
  try {
    // The watchdog configuration in SSM: the cluster's, with the production defaults (timeouts,
    // election timings) but no anti-flap period (trials kill a primary every minute or two; production
    // keeps 3600 s).
    env = await ProductionEnvironment.start({ cluster, configExtra: { antiFlapSeconds: 0 } });
    const deploymentDir = join(cluster.dir, 'deployment');
    mkdirSync(deploymentDir, { recursive: true });
    const packagedAt = Date.now();
    const template = packageDeployment(deploymentFileOf(env), STAGE, deploymentDir);
    process.stdout.write(
      `bench:detect: production mode: bundle ${env.bundleDir}, template of stage ${STAGE} packaged in ${Date.now() - packagedAt} ms, AWS stand-in ${env.standin.url}\n`,
    );
    detection = new DeployedDetection(env, template);
    detection.wireTriggers();

    for (const sql of writerSetupStatements(APP.user, APP.password)) await cluster.primary.query(sql);
    for (const r of cluster.replicas) await cluster.waitForReplication(r);
    await detection.installWatchers();
    process.stdout.write(
      `bench:detect: ${detection.watchers.length} watcher(s) installed by the template's document and watching\n`,
    );
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
    const firstEvents: number[] = [];
    let primary: ServerHandle = cluster.servers[0]!;
    let replica: ServerHandle = cluster.servers[1]!;
    const budgetEnd = budgetMin > 0 ? Date.now() + budgetMin * 60_000 : Number.POSITIVE_INFINITY;
    let trialsRun = 0;
    for (let trial = 1; trial <= trials; trial++) {
      if (Date.now() > budgetEnd) {
        process.stdout.write(
          `bench:detect: the ${budgetMin}-minute budget is spent: stopping after ${trialsRun} of ${trials} trials\n`,
        );
        break;
      }
      trialsRun = trial;
      // Healthy: every router acknowledges writes on the primary, the replica replicates.
      await cluster.waitForReplication(replica, 120_000);
      const since = Date.now();
      for (let i = 0; writer.firstAckOn(primary.serverId, since).size < labels.length; i++) {
        if (i > 600)
          throw new Error(`trial ${trial}: writes do not reach ${primary.name} through every router`);
        await sleep(100);
      }
      await sleep(Math.round(random() * 3_000));
      const eventsBefore = detection.bridge.received.length;
      const runsBefore = detection.runs.length;
      const killAt = Date.now();
      await primary.kill9();
      let recoveredAt = 0;
      for (let i = 0; ; i++) {
        const firsts = writer.firstAckOn(replica.serverId, killAt);
        if (firsts.size === labels.length) {
          recoveredAt = Math.max(...firsts.values());
          break;
        }
        if (i > 2_400)
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
      await detection.idle();
      const events = detection.bridge.received.slice(eventsBefore);
      const firstEvent = events[0]?.atMs;
      if (firstEvent) firstEvents.push(firstEvent - killAt);
      const runs = detection.runs.slice(runsBefore).sort((a, b) => a.startMs - b.startMs);
      const line =
        `trial ${trial}: kill ${primary.name} -> first event +${firstEvent ? firstEvent - killAt : '?'} ms, ` +
        `writes on ${replica.name} through every router +${recoveredAt - killAt} ms; outage ${(outage / 1000).toFixed(2)} s; ` +
        `${events.length} event(s) (refused ${detection.bridge.refused.length}), ${runs.length} run(s) [${runs.map((r) => `${r.group} ${describeRun(r, killAt)}`).join('; ')}]`;
      process.stdout.write(`${line}\n`);
      process.stdout.write(
        `bench:detect: so far ${trial} trial(s), outages (s) ${outages.map((o) => o.toFixed(2)).join(' ')}, p50 ${median(outages).toFixed(2)}, max ${Math.max(...outages).toFixed(2)}, load ${loadavg()
          .map((l) => l.toFixed(1))
          .join(' ')}\n`,
      );

      // Rebuild the old primary before the next trial (an operator's console checks), then swap roles.
      await primary.start();
      let rebuilt = false;
      for (let attempt = 1; attempt <= 10 && !rebuilt; attempt++) {
        await Promise.all(
          env.groups.map((g) => detection!.invoke(g, productionEvents.console('check', g), 'console')),
        );
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
    const salvaged = new Set(
      detection.runs.flatMap((r) =>
        (((r.outcome.result?.report as Json)?.operation?.salvage ?? []) as Json[]).flatMap((s) =>
          (s.transactions as Json[]).flatMap((t) => ((t.rows ?? []) as Json[]).flatMap((row) => row.values)),
        ),
      ),
    );
    const lost = [...ackedIds].filter((id) => !present.has(id));
    const unexplained = lost.filter((id) => !salvaged.has(`@1=${id}`));

    const costs = costSummary();
    const load = loadavg()
      .map((l) => l.toFixed(1))
      .join(' ');
    process.stdout.write(
      `started ${startedAt}, ended ${new Date().toISOString()}; load average ${load}; ${trialsRun} of ${trials} trials; ` +
        `outages (s) ${outages.map((o) => o.toFixed(2)).join(' ')}; ` +
        `kill -> first event (ms) ${firstEvents.join(' ')}; ` +
        `acknowledged ${stats.acked}; missing on the final primary ${lost.length} (not in a salvage record: ${unexplained.length}); ` +
        `monthly cost of the documented cluster: base check ${costs.baseUsd} USD, push detection +${costs.pushUsd} USD ` +
        `(total ${costs.totalPushUsd} USD); a 1-minute watch loop would add ${costs.watchUsd} USD (${costs.watch128Usd} at 128 MB)\n`,
    );
    process.stdout.write(
      `${JSON.stringify({
        bench: 'detect',
        trials: trialsRun,
        mechanism:
          'push: watcher on each backend (installed by the stack SSM document, HAProxy runtime API) -> PutEvents signed with the instance role -> the stack rule on the detection bus -> the packaged bundle (a cold process per invocation, one at a time per group)',
        p50OutageS: Math.round(median(outages) * 100) / 100,
        maxOutageS: Math.round(Math.max(...outages) * 100) / 100,
        lostAckedWrites: lost.length,
        // The whole monthly cost of the documented cluster with this detection mode (base check + push).
        monthlyCostUsd: costs.totalPushUsd,
      })}\n`,
    );
    return 0;
  } finally {
    await writer?.stop();
    await detection?.stop();
    await detection?.idle();
    await env?.stop();
    await cluster.stop();
  }
}

process.exitCode = await main();
