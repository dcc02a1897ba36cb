/**
 * The sandbox behind `npm start`: a real local cluster (MariaDB servers with GTID replication, one HAProxy
 * router per backend group) and a failover drill played against it. Ctrl-C, an error or the end of the
 * drill stops everything it started.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseConfig } from '../config/schema.js';
import { type CycleReport, runCycle } from '../operations/cycle.js';
import { formatCycleReport, formatStatus } from '../operations/status-view.js';
import { type Cluster, startCluster } from './harness/index.js';

export interface SandboxOptions {
  servers: 2 | 3;
  /** Leave the cluster running after the drill until Ctrl-C. */
  keep: boolean;
  json: boolean;
  out: (text: string) => void;
  groups?: number;
}

/** Where `--keep` leaves a copy of the sandbox configuration, for `repl-watchdog --config`. */
export const SANDBOX_CONFIG_PATH = join(tmpdir(), 'mysql-failover-sandbox', 'config.json');

function elapsed(t0: number): string {
  return `${((performance.now() - t0) / 1000).toFixed(1)} s`;
}

export async function runSandbox(options: SandboxOptions): Promise<number> {
  const { out } = options;
  const t0 = performance.now();
  let cluster: Cluster | undefined;
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    if (cluster) {
      out('stopping the sandbox cluster…');
      await cluster.stop();
      out('stopped: no server or router left running');
    }
  };
  const onSignal = (): void => {
    void stop().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    out(
      `starting a local cluster: ${options.servers} MariaDB servers, ${options.groups ?? 3} backend groups with an HAProxy router each…`,
    );
    cluster = await startCluster({ servers: options.servers, groups: options.groups ?? 3, name: 'sandbox' });
    const configPath = cluster.configFile();
    const config = parseConfig(cluster.config(), `sandbox ${configPath}`);
    out(`cluster up in ${elapsed(t0)}; configuration: ${configPath}`);
    for (const s of cluster.servers)
      out(`  ${s.name}  ${s.host}:${s.port}  (${s === cluster.servers[0] ? 'primary' : 'replica'})`);
    for (const g of cluster.groups) for (const r of g.routers) out(`  ${g.name} router ${r.host}:${r.port}`);

    out('\n== status before the drill ==');
    const before = await runCycle(config, {
      trigger: 'cli',
      action: 'status',
      group: undefined,
      dryRun: true,
      force: false,
    });
    out(options.json ? JSON.stringify(before, null, 2) : formatStatus(before));

    const primary = cluster.servers[0]!;
    const replica = cluster.servers[1]!;
    await cluster.writeSomething(primary);
    await cluster.waitForReplication(replica);

    out(`\n== drill: kill -9 the primary ${primary.name} (${primary.host}:${primary.port}) ==`);
    const tKill = performance.now();
    await primary.kill9();
    out('waiting for every router to move new connections to the replica (their health checks)…');
    await Promise.all(cluster.routers.map((r) => cluster!.waitForRouterTarget(r, replica, 30_000)));
    out(`routers moved to ${replica.name} ${elapsed(tKill)} after the kill`);
    // The replica's IO thread confirms the primary is gone within its slave_net_timeout / retry.
    await waitForReplicaToNotice(cluster, replica);

    out("\n== what each group's watchdog detects and plans (as on an alarm) ==");
    const reports: CycleReport[] = await Promise.all(
      cluster.groups.map((g) =>
        runCycle(config, {
          trigger: 'alarm',
          action: 'check',
          group: g.name,
          dryRun: false,
          force: false,
          alarm: { name: 'sandbox-primary-down', state: 'ALARM' },
        }),
      ),
    );
    for (const report of reports)
      out(options.json ? JSON.stringify(report, null, 2) : `${formatCycleReport(report)}\n`);

    out('== status after the drill ==');
    const after = await runCycle(config, {
      trigger: 'cli',
      action: 'status',
      group: undefined,
      dryRun: true,
      force: false,
    });
    out(options.json ? JSON.stringify(after, null, 2) : formatStatus(after));

    out(`\ndrill finished in ${elapsed(t0)}`);
    if (options.keep) {
      mkdirSync(join(tmpdir(), 'mysql-failover-sandbox'), { recursive: true });
      copyFileSync(configPath, SANDBOX_CONFIG_PATH);
      out(
        `\nthe cluster stays up until Ctrl-C; try:\n  npx repl-watchdog status --config ${SANDBOX_CONFIG_PATH}`,
      );
      await new Promise<never>(() => {});
    }
    const detected = reports.every((r) => r.analysis && r.analysis.code !== 'Ok' && r.error === undefined);
    return detected ? 0 : 1;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await stop();
  }
}

async function waitForReplicaToNotice(cluster: Cluster, replica: Cluster['servers'][number]): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const status = await cluster.replicationStatus(replica);
    if (status && status.Slave_IO_Running !== 'Yes') return;
    await sleep(100);
  }
}
