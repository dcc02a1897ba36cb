/**
 * The detection path as a user deploys it, in the production mode of the sandbox: the deployment
 * packaged by osls (DEPLOY_CONFIG), the watcher installed on each backend by the template's SSM
 * document with its State Manager association's parameters (run as the SSM Agent runs it) and started as
 * its systemd unit starts it, with the instance role's credentials from the metadata service; its
 * PutEvents reaching the AWS stand-in's EventBridge endpoint, matched by the template's rule, which
 * starts the packaged bundle with EventBridge's envelope, one run at a time (reserved concurrency 1).
 * Two backends in the group report the same death: one event each (debounced), and the watchdog, not
 * the watcher, decides.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import {
  DeployedDetection,
  deploymentFileOf,
  detectionRules,
  packageDeployment,
} from '../../functions/sandbox/production/detection.js';
import { ProductionEnvironment } from '../../functions/sandbox/production/environment.js';
import { WATCHER_SCRIPT } from '../../functions/sandbox/watcher.js';
import { pollUntil } from '../harness/wait.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON-shaped test access
type Json = any;

let cluster: Cluster;
let env: ProductionEnvironment;
let detection: DeployedDetection;

beforeAll(async () => {
  cluster = await startCluster({
    servers: 2,
    groups: 1,
    routersPerGroup: 2,
    routerMode: 'sticky',
    readOnlyServers: true,
    name: 'watcherprod',
  });
  env = await ProductionEnvironment.start({
    cluster,
    configExtra: {
      election: { leaseMs: 10_000, followerTimeoutMs: 60_000, pollMs: 100 },
      antiFlapSeconds: 0,
    },
  });
  const template = packageDeployment(deploymentFileOf(env), 'wprod', join(cluster.dir, 'deployment'));
  detection = new DeployedDetection(env, template);
  detection.wireTriggers();
  await detection.installWatchers();
}, 600_000);

afterAll(async () => {
  await detection?.stop();
  await detection?.idle();
  await env?.stop();
  await cluster?.stop();
});

describe('the watcher as installed by the stack, reaching the stand-in EventBridge', () => {
  it('installs the repository watcher on every tagged backend with its association settings, and sends nothing while healthy', () => {
    expect(detection.watchers).toHaveLength(2);
    for (const instance of env.standin.instances) {
      const root = join(instance.dir, 'root');
      expect(readFileSync(join(root, 'usr/local/lib/mysql-failover/watcher.sh'), 'utf8')).toBe(
        readFileSync(WATCHER_SCRIPT, 'utf8'),
      );
      const settings = readFileSync(join(root, 'etc/mysql-failover/watcher.env'), 'utf8');
      expect(settings).toContain(`MFW_CLUSTER=${env.clusterName}\nMFW_GROUP=${env.groups[0]}\n`);
      expect(settings).toContain(`MFW_EVENT_BUS=${detection.busName()}\n`);
    }
    expect(detection.bridge.received).toEqual([]);
    expect(detection.runs).toEqual([]);
  });

  it('on kill -9 of the primary: one signed event per backend, matched by the template rule, runs the bundle one at a time, which promotes the replica', async () => {
    const [primary, replica] = [cluster.servers[0]!, cluster.servers[1]!];
    const killAt = Date.now();
    await primary.kill9();
    await detection.bridge.waitForEntries(2, 60_000);
    const ran = await pollUntil(
      () => detection.runs.length,
      (n) => n >= 2,
      { deadlineMs: 240_000 },
    );
    expect(ran).toBeGreaterThanOrEqual(2);
    await detection.idle();

    expect(detection.bridge.refused).toEqual([]);
    const [rule] = detectionRules(detection.template);
    const entries = detection.bridge.received;
    // Debounced: each backend reported the death once (the next would come after its 30 s repeat).
    expect(entries).toHaveLength(2);
    const instanceIds = env.standin.instances.map((i) => i.instanceId).sort();
    expect(entries.map((e) => (e.event.detail as Json).backend).sort()).toEqual(instanceIds);
    for (const e of entries) {
      expect(e.eventBusName).toBe(detection.busName());
      expect(e.matchedRules).toEqual([rule!.name]);
      expect(e.event).toMatchObject({
        source: 'mysql-failover.watcher',
        'detail-type': 'Router Primary Down',
        detail: { cluster: env.clusterName, group: env.groups[0], state: 'down', routerKind: 'haproxy' },
      });
    }
    // Reserved concurrency 1: the second event's run started after the first ended.
    const runs = [...detection.runs].sort((a, b) => a.startMs - b.startMs);
    expect(runs.map((r) => r.trigger)).toEqual(['watcher', 'watcher']);
    expect(runs[1]!.startMs).toBeGreaterThanOrEqual(runs[0]!.endMs);
    for (const r of runs) expect(r.startMs).toBeGreaterThanOrEqual(killAt);
    const first = runs[0]!.outcome.result?.report as Json;
    expect(first, JSON.stringify(runs[0]!.outcome.thrown ?? runs[0]!.outcome.stdout.slice(-5))).toMatchObject(
      {
        trigger: 'watcher',
        group: env.groups[0],
        operation: { operation: 'promote-dead', role: 'master' },
      },
    );
    for (const router of cluster.routers) await cluster.waitForRouterTarget(router, replica, 60_000);
  });
});
