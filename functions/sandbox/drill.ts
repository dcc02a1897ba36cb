/**
 * The sandbox behind `npm start`: a real local cluster (MariaDB servers with GTID replication, one HAProxy
 * router per backend group) and a failover drill played against it, end to end:
 *
 *   writers through every group's router (each acknowledged write id is recorded)
 *   -> kill -9 the primary -> the routers move to the replica on their own (seed mode: both writable)
 *   -> every group's watchdog runs at once, as on an alarm: one becomes operation master, promotes the
 *      replica and rewrites its routers; the others rewrite theirs on TARG
 *   -> the old primary is restarted -> the watchdogs run again: it is fenced, its transactions the new
 *      primary lacks are salvaged, it is reseeded from the new primary and replicates again
 *   -> the writers stop; CHECKSUM TABLE on every table; every acknowledged write is on the new primary
 *      or listed in the salvage record.
 *
 * Ctrl-C, an error or the end of the drill stops everything it started.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Config, parseConfig } from '../config/schema.js';
import { AdminPool } from '../operations/admin.js';
import { type ChecksumComparison, compareChecksums } from '../operations/checksum.js';
import { type CycleReport, runCycle } from '../operations/cycle.js';
import type { SalvageRecord } from '../operations/salvage.js';
import { formatCycleReport, formatStatus } from '../operations/status-view.js';
import { type LocalRouter, LocalRouterSwitch } from '../routers/local.js';
import type { Invocation } from '../triggers/events.js';
import type { ClusterFlavor } from './harness/cluster.js';
import { type Cluster, startCluster } from './harness/index.js';
import { ProductionEnvironment, productionEvent, reportOf } from './production/environment.js';
import { AckWriter, WRITER_SCHEMA, WRITER_TABLE, writerSetupStatements } from './writer.js';

export interface SandboxOptions {
  servers: 2 | 3;
  /** Leave the cluster running after the drill until Ctrl-C. */
  keep: boolean;
  json: boolean;
  out: (text: string) => void;
  groups?: number;
  /** Rows written before the drill (the data set the reseed copies). */
  rows?: number;
  /** Print every cycle report in full (default: the readable summary only). */
  verbose?: boolean;
  /**
   * Play the drill through the packaged bundle against the AWS stand-in (functions/sandbox/production):
   * groups found by EC2 tag, config in SSM, credentials in Secrets Manager, routers switched by the SSM
   * document, S3 a local endpoint.
   */
  production?: boolean;
  /**
   * 'mariadb' (default): MariaDB behind HAProxy. 'mysql': MySQL 9.7 behind real MySQL Router 9.7, the
   * original script's own setup (needs scripts/setup-mysql.sh).
   */
  flavor?: ClusterFlavor;
}

export interface DrillResult {
  ok: boolean;
  groups: number;
  /** From the watchdogs' invocation to an acknowledged write on the new primary through every router. */
  switchS: number | null;
  /** From the kill to an acknowledged write on the new primary through every router (router + watchdog). */
  killToWritesS: number | null;
  /** From the invocation to the old primary rebuilt and replicating (restart included). */
  redundantS: number | null;
  acknowledged: number;
  lostAckedWrites: number;
  /** Lost acknowledged writes that no salvage record lists (must be 0). */
  unexplainedLost: number;
  /** The ids of those writes (the first 20), to look them up. */
  unexplainedIds: string[];
  consistent: boolean;
  checksums: Array<{ replica: string } & ChecksumComparison>;
  salvage: Array<Pick<SalvageRecord, 'server' | 'missingOn' | 'count' | 'difference' | 'url'>>;
  finalCode: string | null;
  timeline: string[];
}

/** Where `--keep` leaves a copy of the sandbox configuration, for `repl-watchdog --config`. */
export const SANDBOX_CONFIG_PATH = join(tmpdir(), 'mysql-failover-sandbox', 'config.json');

const APP_ACCOUNT = { user: 'app_writer', password: 'app-writer-pw' };

function elapsed(t0: number): string {
  return `${((performance.now() - t0) / 1000).toFixed(1)} s`;
}

/**
 * The router switch of the sandbox: the same script as production, with each router's backups (and the
 * script's lock, which is named after the config file) in the router's own folder, so that the groups
 * switch side by side instead of queueing on one lock as routers of one host would.
 */
export function sandboxRouterSwitch(config: Config): LocalRouterSwitch {
  const groups: Record<string, LocalRouter[]> = {};
  const cred = config.credentials.watchdog;
  for (const g of config.groups) {
    groups[g.name] = g.routers.map((r) => ({
      id: r.id,
      routerKind: g.routerKind,
      configPath: r.configPath!,
      section: g.section,
      verifyAddress: r.id,
      ...(cred ? { verifyUser: cred.user, verifyPassword: cred.password } : {}),
      backupDir: join(dirname(r.configPath!), 'backups'),
      // MySQL Router applies new destinations only when restarted: the harness's restart.sh beside
      // its config stands for `systemctl restart mysqlrouter`.
      ...(g.routerKind === 'mysqlrouter'
        ? {
            applyMode: 'command' as const,
            applyCommand: `bash ${join(dirname(r.configPath!), 'restart.sh')}`,
          }
        : {}),
    }));
  }
  return new LocalRouterSwitch({ groups });
}

/**
 * The watchdog's timeouts for a shared, loaded 2-core machine (the sandbox, the test suite): a loaded
 * machine can take seconds to greet a new connection, and a tighter limit made a healthy server look
 * unreachable (a switchover at load average 150 found no master; a chaos round at load 200-450 saw
 * every router time out at 1 s for 240 s). A killed server still refuses at once.
 */
export const LOADED_MACHINE_TIMEOUTS = {
  connectMs: 5_000,
  queryMs: 10_000,
  deadlineMarginMs: 20_000,
} as const;

/** The sandbox's watchdog configuration: short election timings, so a drill takes seconds. */
export function sandboxConfig(cluster: Cluster, source: string): Config {
  return parseConfig(
    {
      ...cluster.config(),
      election: { leaseMs: 10_000, followerTimeoutMs: 60_000, pollMs: 100 },
      timeouts: { ...LOADED_MACHINE_TIMEOUTS },
    },
    source,
  );
}

class Timeline {
  private readonly events: Array<{ at: number; text: string }> = [];
  constructor(
    private readonly t0: number,
    private readonly progress: (text: string) => void = () => {},
  ) {}
  add(text: string, at = Date.now()): void {
    this.events.push({ at, text });
    this.progress(`drill: ${text}`);
  }
  addReports(label: string, reports: CycleReport[]): void {
    for (const r of reports) {
      for (const s of r.operation?.steps ?? []) {
        this.add(
          `${label} ${r.group} ${r.operation?.role}: ${s.kind} ${s.target ?? ''} ${s.outcome} (${(s.durationMs / 1000).toFixed(2)} s) ${s.detail}`,
          Date.parse(s.startedAt),
        );
      }
    }
  }
  lines(): string[] {
    return [...this.events]
      .sort((a, b) => a.at - b.at)
      .map((e) => `+${((e.at - this.t0) / 1000).toFixed(2).padStart(7)} s  ${e.text}`);
  }
}

async function waitForReplicaToNotice(cluster: Cluster, replica: Cluster['servers'][number]): Promise<void> {
  for (let i = 0; i < 150; i++) {
    const status = await cluster.replicationStatus(replica);
    if (status && status.Slave_IO_Running !== 'Yes') return;
    await sleep(100);
  }
}

/** Runs every group's watchdog once with `trigger` (in-process, or the bundle in production mode). */
export type GroupRunner = (trigger: Invocation['trigger']) => Promise<CycleReport[]>;

function runGroups(
  config: Config,
  cluster: Cluster,
  trigger: Invocation['trigger'],
  progress: (text: string) => void = () => {},
): Promise<CycleReport[]> {
  const routers = sandboxRouterSwitch(config);
  // Each watchdog's log lines (its analysis, each step as it ends) as progress: a run that stalls
  // shows the last step it finished.
  const line =
    (level: string) =>
    (message: string, extra: Record<string, unknown>): void =>
      progress(`watchdog ${level}: ${message} ${JSON.stringify(extra)}`);
  const logger = { info: line('info'), warn: line('warn'), error: line('error') };
  return Promise.all(
    cluster.groups.map((g) =>
      runCycle(
        config,
        {
          trigger,
          action: 'check',
          group: g.name,
          dryRun: false,
          force: false,
          ...(trigger === 'alarm' ? { alarm: { name: 'sandbox-primary-down', state: 'ALARM' } } : {}),
        },
        { routers, logger },
      ),
    ),
  );
}

/** Plays the drill on a started cluster (the benchmark and the tests call it too). */
export async function playDrill(
  cluster: Cluster,
  config: Config,
  out: (text: string) => void,
  options: {
    rows?: number;
    verbose?: boolean;
    json?: boolean;
    runGroups?: GroupRunner;
    /**
     * Told what the drill waits for before each wait, and each timeline event (a StallWatch's `note`):
     * a drill that stalls can then say where.
     */
    progress?: (text: string) => void;
  } = {},
): Promise<DrillResult> {
  const run: GroupRunner =
    options.runGroups ?? ((trigger) => runGroups(config, cluster, trigger, options.progress));
  const waiting = (text: string): void => options.progress?.(`drill: waiting for ${text}`);
  const t0 = Date.now();
  const timeline = new Timeline(t0, options.progress);
  const primary = cluster.servers[0]!;
  const replica = cluster.servers[1]!;
  waiting(`the writer's schema and account on ${primary.name}, and the data set`);
  for (const sql of writerSetupStatements(APP_ACCOUNT.user, APP_ACCOUNT.password)) await primary.query(sql);
  const rows = options.rows ?? 2_000;
  // The data set the reseed copies: inserted in batches on the primary, replicated.
  for (let done = 0; done < rows; done += 500) {
    const n = Math.min(500, rows - done);
    const values = Array.from(
      { length: n },
      (_, i) => `(${9_000_000_000_000 + done + i}, 'seed', REPEAT('x', 40))`,
    );
    await primary.query(
      `INSERT INTO ${WRITER_SCHEMA}.${WRITER_TABLE} (id, grp, payload) VALUES ${values.join(',')}`,
    );
  }
  waiting(`${cluster.replicas.map((r) => r.name).join(', ')} to replicate the data set`);
  for (const r of cluster.replicas) await cluster.waitForReplication(r);
  timeline.add(`data set: ${rows} rows in ${WRITER_SCHEMA}.${WRITER_TABLE}, replicated`);

  const writer = new AckWriter(
    cluster.groups.flatMap((g) => g.routers.map((r) => ({ group: g.name, host: r.host, port: r.port }))),
    APP_ACCOUNT,
  );
  writer.start();
  waiting(`writes acknowledged by ${primary.name} through every group's router`);
  // The kill comes under load: once writes were acknowledged through every router (a loaded machine
  // can take longer than any fixed pause), and at least a second after the writers started.
  const startedAt = Date.now();
  const deadline = startedAt + 60_000;
  while (
    (Date.now() - startedAt < 1_000 ||
      writer.firstAckOn(primary.serverId, startedAt).size < cluster.groups.length) &&
    Date.now() < deadline
  )
    await sleep(100);
  timeline.add(
    `writers running through ${cluster.routers.length} routers (${writer.summary().acked} acknowledged so far)`,
  );

  out(`\n== kill -9 the primary ${primary.name} (${primary.address}) under the write load ==`);
  const killAt = Date.now();
  waiting(`${primary.name} to die (kill -9)`);
  await primary.kill9();
  timeline.add(`kill -9 ${primary.name} ${primary.address}`, killAt);
  waiting(`every router to send new connections to ${replica.name}`);
  await Promise.all(cluster.routers.map((r) => cluster.waitForRouterTarget(r, replica, 30_000)));
  timeline.add(
    `every router sends new connections to ${replica.name} (${cluster.routers[0]?.kind === 'mysqlrouter' ? "MySQL Router's next destination" : 'HAProxy health checks'})`,
  );
  waiting(`${replica.name}'s IO thread to notice that ${primary.name} is gone`);
  await waitForReplicaToNotice(cluster, replica);
  timeline.add(`${replica.name}'s IO thread confirms ${primary.name} is gone`);

  out("== every group's watchdog runs at once, as on an alarm ==");
  const invokedAt = Date.now();
  timeline.add('watchdogs of every group invoked (alarm)', invokedAt);
  waiting("the watchdogs' first run (alarm) to end");
  const first = await run('alarm');
  timeline.addReports('run 1', first);
  for (const r of first) out(options.json ? JSON.stringify(r, null, 2) : `${formatCycleReport(r)}\n`);

  // Writes accepted on the new primary through every router.
  let switchedAt: number | null = null;
  waiting(`writes acknowledged by ${replica.name} through every group's router`);
  for (let i = 0; i < 100; i++) {
    const firsts = writer.firstAckOn(replica.serverId, invokedAt);
    if (firsts.size === cluster.groups.length) {
      switchedAt = Math.max(...firsts.values());
      break;
    }
    await sleep(100);
  }
  if (switchedAt)
    timeline.add(`writes acknowledged by ${replica.name} through every group's router`, switchedAt);

  out(`== the old primary ${primary.name} is restarted; the watchdogs run again ==`);
  waiting(`${primary.name} to start again and accept connections`);
  await primary.start();
  timeline.add(`${primary.name} restarted (comes back writable, as configured)`);
  let second: CycleReport[] = [];
  let rebuiltAt: number | null = null;
  for (let attempt = 1; attempt <= 3 && rebuiltAt === null; attempt++) {
    timeline.add(`watchdogs of every group invoked (schedule, attempt ${attempt})`);
    waiting(`the watchdogs' run (schedule, attempt ${attempt}) to end`);
    second = await run('schedule');
    timeline.addReports(`run ${attempt + 1}`, second);
    for (const r of second)
      if (r.operation) out(options.json ? JSON.stringify(r, null, 2) : `${formatCycleReport(r)}\n`);
    const status = await cluster.replicationStatus(primary);
    if (status && status.Slave_IO_Running === 'Yes' && status.Slave_SQL_Running === 'Yes') {
      // The moment replication was running again, as the operation recorded it (the routers'
      // re-inclusion of the rebuilt server that follows is not part of redundancy in the data).
      const started = second
        .flatMap((r) => r.operation?.steps ?? [])
        .find(
          (st) => st.kind === 'StartReplication' && st.target === primary.address && st.outcome === 'done',
        );
      rebuiltAt = started ? Date.parse(started.endedAt) : Date.now();
    }
  }
  if (rebuiltAt) timeline.add(`${primary.name} rebuilt and replicating from ${replica.name}`, rebuiltAt);

  waiting("the writers to stop (each one's statement in flight to end)");
  const stats = await writer.stop();
  timeline.add(`writers stopped: ${stats.acked} acknowledged, ${stats.errors} failed attempts (reconnects)`);
  waiting(`${primary.name} to catch up with ${replica.name}`);
  await cluster.waitForReplication(primary, 30_000).catch(() => undefined);
  waiting('the consistency check (CHECKSUM TABLE, acknowledged writes) and the final analysis');

  // Final consistency check and the acknowledged writes.
  const pool = new AdminPool(config);
  const checksums: DrillResult['checksums'] = [];
  let consistent = true;
  try {
    const newPrimary = await pool.get(replica.address);
    for (const s of cluster.servers.filter((x) => x !== replica)) {
      try {
        const cmp = await compareChecksums(newPrimary, await pool.get(s.address));
        checksums.push({ replica: s.address, ...cmp });
        consistent &&= cmp.consistent;
      } catch (error) {
        consistent = false;
        timeline.add(`checksum of ${s.name} failed: ${(error as Error).message}`);
      }
    }
    const present = new Set(
      (await newPrimary.query<{ id: string }>(`SELECT id FROM ${WRITER_SCHEMA}.${WRITER_TABLE}`)).map((r) =>
        String(r.id),
      ),
    );
    const salvage = [...first, ...second].flatMap((r) => r.operation?.salvage ?? []);
    const salvagedValues = new Set(
      salvage.flatMap((rec) => rec.transactions.flatMap((t) => (t.rows ?? []).flatMap((row) => row.values))),
    );
    const lost = [...writer.ids()].filter((id) => !present.has(id));
    const unexplained = lost.filter((id) => !salvagedValues.has(`@1=${id}`));
    timeline.add(
      `consistency: CHECKSUM TABLE ${consistent ? 'equal on every table' : 'DIFFERS'}; acknowledged writes missing on the new primary: ${lost.length}${lost.length ? ` (${lost.length - unexplained.length} listed in the salvage record)` : ''}`,
    );
    const final = await runCycle(config, {
      trigger: 'cli',
      action: 'check',
      group: cluster.groups[0]!.name,
      dryRun: true,
      force: false,
    });
    timeline.add(`final analysis: ${final.analysis?.code ?? final.error?.message}`);
    const result: DrillResult = {
      ok: consistent && unexplained.length === 0 && final.analysis?.code === 'Ok' && rebuiltAt !== null,
      groups: cluster.groups.length,
      switchS: switchedAt === null ? null : (switchedAt - invokedAt) / 1000,
      killToWritesS: switchedAt === null ? null : (switchedAt - killAt) / 1000,
      redundantS: rebuiltAt === null ? null : (rebuiltAt - invokedAt) / 1000,
      acknowledged: stats.acked,
      lostAckedWrites: lost.length,
      unexplainedLost: unexplained.length,
      unexplainedIds: unexplained.slice(0, 20),
      consistent,
      checksums,
      salvage: salvage.map((s) => ({
        server: s.server,
        missingOn: s.missingOn,
        count: s.count,
        difference: s.difference,
        url: s.url,
      })),
      finalCode: final.analysis?.code ?? null,
      timeline: timeline.lines(),
    };
    return result;
  } finally {
    await pool.close();
  }
}

export async function runSandbox(options: SandboxOptions): Promise<number> {
  const { out } = options;
  const t0 = performance.now();
  let cluster: Cluster | undefined;
  let production: ProductionEnvironment | undefined;
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await production?.stop();
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
    const flavor = options.flavor ?? 'mariadb';
    out(
      `starting a local cluster: ${options.servers} ${flavor === 'mysql' ? 'MySQL 9.7' : 'MariaDB'} servers, ${options.groups ?? 3} backend groups with ${flavor === 'mysql' ? 'a MySQL Router 9.7' : 'an HAProxy router'} each…`,
    );
    cluster = await startCluster({
      servers: options.servers,
      groups: options.groups ?? 3,
      name: 'sandbox',
      flavor,
      routers: flavor === 'mysql' ? 'mysqlrouter' : 'haproxy',
    });
    const configPath = cluster.configFile();
    const config = sandboxConfig(cluster, `sandbox ${configPath}`);
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

    let runGroups: GroupRunner | undefined;
    if (options.production) {
      out('\n== production mode: the packaged bundle (npm run package) against the AWS stand-in ==');
      const env = await ProductionEnvironment.start({
        cluster,
        configExtra: { election: config.election, timeouts: config.timeouts },
      });
      production = env;
      out(
        `  bundle ${env.bundleDir}; AWS stand-in ${env.standin.url}; S3 ${env.s3.endpoint}; config in SSM ${env.configSsmPath}/config; routers: ${env.standin.instances.map((i) => `${i.instanceId} (${i.tags['mysql-failover-group']})`).join(', ')}`,
      );
      runGroups = async (trigger) => {
        const outcomes = await Promise.all(env.groups.map((g) => env.invoke(g, productionEvent(trigger, g))));
        return outcomes.flatMap((o) => {
          const r = reportOf(o, trigger, () => out(`  the function of ${o.group} died without an answer`));
          return r ? [r] : [];
        });
      };
    }
    const result = await playDrill(cluster, config, out, {
      ...(options.rows !== undefined ? { rows: options.rows } : {}),
      json: options.json,
      ...(runGroups ? { runGroups } : {}),
    });
    if (production) {
      await production.settled();
      out(
        `  AWS calls answered by the stand-in: ${[...new Set(production.standin.calls)].join(', ')}; SSM commands ${production.standin.commands.size}; SNS messages ${production.standin.published.length}`,
      );
    }

    out('\n== status after the drill ==');
    const after = await runCycle(config, {
      trigger: 'cli',
      action: 'status',
      group: undefined,
      dryRun: true,
      force: false,
    });
    out(options.json ? JSON.stringify(after, null, 2) : formatStatus(after));

    out('\n== timeline ==');
    for (const line of result.timeline) out(line);
    out('\n== result ==');
    for (const c of result.checksums)
      out(
        `CHECKSUM TABLE ${c.replica} vs new primary: ${c.tables} tables, ${c.consistent ? 'all equal' : `differing: ${c.differing.map((d) => d.table).join(', ')}`} at ${c.position}`,
      );
    for (const s of result.salvage)
      out(`salvage record of ${s.server}: ${s.count} transaction(s) ${s.difference || ''} -> ${s.url}`);
    out(
      `acknowledged writes: ${result.acknowledged}; missing on the new primary: ${result.lostAckedWrites} (not in a salvage record: ${result.unexplainedLost})`,
    );
    out(
      `writes on the new primary through every router ${result.switchS?.toFixed(2) ?? '?'} s after the watchdogs were invoked (${result.killToWritesS?.toFixed(2) ?? '?'} s after the kill); old primary rebuilt and replicating ${result.redundantS?.toFixed(2) ?? '?'} s after the invocation`,
    );
    out(`drill ${result.ok ? 'PASSED' : 'FAILED'} in ${elapsed(t0)} (final analysis ${result.finalCode})`);
    if (options.keep) {
      mkdirSync(join(tmpdir(), 'mysql-failover-sandbox'), { recursive: true });
      copyFileSync(configPath, SANDBOX_CONFIG_PATH);
      out(
        `\nthe cluster stays up until Ctrl-C; try:\n  npx repl-watchdog status --config ${SANDBOX_CONFIG_PATH}`,
      );
      await new Promise<never>(() => {});
    }
    return result.ok ? 0 : 1;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await stop();
  }
}
