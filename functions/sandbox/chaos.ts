/**
 * The chaos loop: a real local cluster (MariaDB servers with GTID replication, three backend groups
 * with an HAProxy router each) under a continuous write load, one fault per round, the watchdogs
 * invoked as their triggers would until the cluster is `Ok` again, and the invariants checked after
 * every round:
 *
 *   split brain       a probe opens new connections through every router every 250 ms; a server seen
 *                     writable before and after another one was opens a split-brain window (split-brain.ts)
 *   acknowledged      every write the writer saw acknowledged is on the final primary or listed in a
 *                     salvage record (stored in object storage by the operation)
 *   consistency       CHECKSUM TABLE of every replica equals the primary's at one GTID position
 *   no leftovers      no ongoing_failover operation row on any server once its lease has passed
 *   no leaks          exactly one mariadbd per server, no stray mariadb-binlog or watchdog child process
 *   no silent crash   every invocation returned a report (a child killed on purpose excepted)
 *
 * Faults, one per round, chosen by a seeded PRNG (`--seed`), so a run is reproducible fault for fault:
 * kill -9 of the primary; SIGSTOP of the primary then SIGCONT (short: below detection; long: after the
 * routers moved); kill -9 of a replica; replication broken by a conflicting row; a router restarted; the
 * operation master (a separate process) killed at a random moment of its operation; schedule, alarm and
 * console invocations of every group at the same moment; the object store unavailable during a reseed;
 * the server being reseeded restarted in the middle of its restore.
 *
 * Every server runs with `read_only = ON` at start (README: the recommended mode); the watchdog opens the
 * primary it promotes, and a primary that comes back read-only when nothing else can be primary.
 *
 * The anti-flap period is 0 here: faults come every round by design, and a second failover within the
 * hour is what the loop tests (production keeps its default).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Config, parseConfig } from '../config/schema.js';
import { errorMessage, StorageError } from '../errors.js';
import { type CycleReport, runCycle } from '../operations/cycle.js';
import { openConfiguredStore } from '../operations/store.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { Invocation } from '../triggers/events.js';
import { CheckerUnreachable, checkerConfig, checksumWithin, retryWithin } from './checker.js';
import { lastJsonLine, readWhole, waitForOutput } from './child-output.js';
import { ConnectionCensus } from './connection-census.js';
import { sandboxRouterSwitch } from './drill.js';
import type { ClusterFlavor, RouterKindName } from './harness/cluster.js';
import { isStall, StallWatch } from './harness/diagnostics.js';
import { type Cluster, findBinary, type ServerHandle, startCluster } from './harness/index.js';
import { ProductionEnvironment, productionEvent, reportOf } from './production/environment.js';
import { SplitBrainProbe } from './split-brain.js';
import { prepareSysbench, SysbenchLoad, sysbenchScriptIn } from './sysbench-load.js';
import { AckWriter, PATIENT_RETRY, WRITER_SCHEMA, WRITER_TABLE, writerSetupStatements } from './writer.js';

export const FAULTS = [
  'kill-primary',
  'hang-primary',
  'kill-replica',
  'break-replication',
  'restart-router',
  'kill-operation-master',
  'concurrent-triggers',
  'store-down-during-reseed',
  'restart-mid-reseed',
] as const;
export type Fault = (typeof FAULTS)[number];

/**
 * Faults that need a hook inside the watchdog's process (an object store that fails or restarts a
 * server mid-restore): not drawn in production mode, where the bundle runs in its own processes
 * against a real local S3 endpoint.
 */
const IN_PROCESS_FAULTS: readonly Fault[] = ['store-down-during-reseed', 'restart-mid-reseed'];
export const PRODUCTION_FAULTS: readonly Fault[] = FAULTS.filter((f) => !IN_PROCESS_FAULTS.includes(f));

export interface ChaosOptions {
  rounds: number;
  seed: number;
  servers?: 2 | 3;
  groups?: number;
  /** A round that is not `Ok` again after this long is a violation. */
  roundTimeoutS?: number;
  /**
   * The hard limit of a whole round (fault, recovery, invariants; default `roundTimeoutS` + 210 s).
   * Every await of a round also has a limit of its own (ROUND_STEP_LIMITS_MS); a round past either
   * fails with what it was waiting for, the steps and invocations before it and the cluster's log
   * tails, and the run stops there (the stuck work may still be running).
   */
  roundLimitS?: number;
  /** Also run sysbench oltp_write_only through every router (default: when sysbench is installed). */
  sysbench?: boolean;
  out?: (line: string) => void;
  /** Start no new round after this many minutes; the figures then count the rounds done. */
  minutes?: number;
  /** Draw faults from this list only (default: all). */
  only?: readonly Fault[];
  /** Keep every invocation's report, one JSONL file per round (for investigating a violation). */
  reportsDir?: string;
  /**
   * Run every watchdog invocation through the packaged bundle, one process per invocation, against
   * the AWS stand-in (functions/sandbox/production): groups found by EC2 tag, config in SSM, credentials
   * in Secrets Manager, routers switched by the SSM document, S3 a local endpoint.
   */
  production?: boolean;
  /** 'mariadb' (default) or 'mysql' (MySQL 9.7, scripts/setup-mysql.sh). */
  flavor?: ClusterFlavor;
  /** 'haproxy' (default) or 'mysqlrouter' (real MySQL Router 9.7). */
  routers?: RouterKindName;
  /** Every line the functions print in production mode (their logs and metrics), for a test to read. */
  functionLog?: (line: string) => void;
  /** Called at the end of the run, before anything is stopped: a test reads what the run left behind. */
  inspect?: (run: { cluster: Cluster; production?: ProductionEnvironment }) => Promise<void> | void;
  /**
   * The watchdogs' connect and query timeouts (default CHAOS_TIMEOUTS: production-like, 1 s to
   * connect). The test suite passes LOADED_MACHINE_TIMEOUTS: at load 200+ a connect to a healthy
   * router takes over a second, every group's routers look unknown, and the watchdog rightly does
   * nothing until the round's time is up.
   */
  timeouts?: { connectMs: number; queryMs: number; deadlineMarginMs: number };
}

/** The chaos run's default watchdog timeouts: tight, as a production function's would be. */
export const CHAOS_TIMEOUTS = { connectMs: 1_000, queryMs: 5_000, deadlineMarginMs: 20_000 } as const;

export interface ChaosResult {
  bench: 'chaos';
  flavor: ClusterFlavor;
  routers: RouterKindName;
  rounds: number;
  faults: Record<string, number>;
  failovers: number;
  violations: number;
  splitBrainWindows: number;
  lostAckedWrites: number;
  medianRecoverS: number;
  maxRecoverS: number;
  /** Rounds the loop's own plumbing failed (printed as HARNESS ERROR lines); they prove nothing. */
  harnessErrors: number;
  /** Present in production mode: the invocations ran the packaged bundle. */
  mode?: 'production';
  bundle?: true;
}

export interface ChaosDetails {
  result: ChaosResult;
  violations: string[];
  harnessErrors: string[];
  acknowledged: number;
  salvagedAckedWrites: number;
  recoverS: number[];
  seed: number;
}

/** mulberry32: a tiny, well-distributed 32-bit PRNG; the same seed gives the same fault schedule. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The fault schedule of a run: pure, so a seed can be replayed and inspected. */
export function faultSchedule(
  seed: number,
  rounds: number,
  only: readonly Fault[] = FAULTS,
): Array<{ fault: Fault; params: number[] }> {
  const rnd = prng(seed);
  return Array.from({ length: rounds }, () => {
    const fault = only[Math.floor(rnd() * only.length)]!;
    return { fault, params: [rnd(), rnd(), rnd()] };
  });
}

/**
 * The limit of each await of a round that could wait without end (a step past its limit fails the
 * round, naming the step: see ChaosOptions.roundLimitS). Generous: a loaded 2-core machine.
 */
export const ROUND_STEP_LIMITS_MS = {
  /** The primary by the watchdog's analysis (statuses for up to 60 s, then its best guess). */
  currentPrimary: 150_000,
  /** A fault's own actions: a kill -9, a restart (stop 30 s + start 60 s), routers moving (60 s). */
  fault: 180_000,
  /** A watchdog run in a child process: its start (up to 120 s), its run until killed, its output. */
  childCycle: 240_000,
  /**
   * One in-process invocation of every group's watchdog (its own timeouts bound each query). Seen at
   * load 30: a recover with its reseed took 192 s.
   */
  invocation: 300_000,
  /** A server restarted in the background by a fault. */
  background: 150_000,
  /** One invariant check (its own deadlines are about 60-120 s). */
  check: 240_000,
  /** Stopping one part of the run (the probe, the writer, a load, the cluster). */
  teardown: 120_000,
} as const;

/** How long a round asks for an `Ok` analysis before it takes the primary the analysis names anyway. */
const CURRENT_PRIMARY_WAIT_MS = 60_000;
const APP = { user: 'app_writer', password: 'chaos-app-pw' };
/** A harness that fails this many rounds in a row is broken: the run stops and says so. */
const MAX_HARNESS_ERRORS_IN_A_ROW = 3;

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** A store whose reseed objects fail while `down` is set: object storage unavailable during a reseed. */
function storeWithOutage(base: () => ObjectStore, state: { down: boolean; hits: number }): () => ObjectStore {
  return () => {
    const real = base();
    const guard = (key: string): void => {
      if (state.down && key.includes('reseed')) {
        state.hits++;
        throw new StorageError(`object storage unavailable (chaos): ${key}`);
      }
    };
    return {
      url: real.url,
      put: async (key, body, options) => {
        guard(key);
        return real.put(key, body, options);
      },
      get: async (key, options) => {
        guard(key);
        return real.get(key, options);
      },
      head: async (key) => {
        guard(key);
        return real.head(key);
      },
      list: async (prefix) => {
        guard(prefix);
        return real.list(prefix);
      },
      delete: (key) => real.delete(key),
    };
  };
}

/** A store that restarts `server` shortly after the first read of a reseed object (the restore). */
function storeRestartingOnRestore(base: () => ObjectStore, onRestore: () => void): () => ObjectStore {
  let fired = false;
  return () => {
    const real = base();
    return {
      ...real,
      url: real.url,
      put: (key, body, options) => real.put(key, body, options),
      get: (key, options) => {
        if (!fired && key.includes('reseed') && !key.endsWith('manifest.json')) {
          fired = true;
          onRestore();
        }
        return real.get(key, options);
      },
      head: (key) => real.head(key),
      list: (prefix) => real.list(prefix),
      delete: (key) => real.delete(key),
    };
  };
}

function processTable(): Array<{ pid: number; args: string }> {
  const text = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const i = l.indexOf(' ');
      return { pid: Number(l.slice(0, i)), args: l.slice(i + 1) };
    });
}

/** One line per group report: what it found, planned and did (each step's outcome), and any error. */
export function describeReports(reports: readonly CycleReport[]): string {
  if (reports.length === 0) return 'no report';
  return reports
    .map((r) => {
      const op = r.operation;
      const steps = (op?.steps ?? [])
        .map(
          (st) =>
            `${st.kind}${st.target ? ` ${st.target}` : ''} ${st.outcome} ${(st.durationMs / 1000).toFixed(1)} s${st.outcome === 'done' || !st.detail ? '' : ` (${st.detail.slice(0, 160)})`}`,
        )
        .join(', ');
      const parts = [
        `${r.group}: ${r.analysis?.code ?? 'no analysis'}`,
        r.plan ? `plan ${r.plan.kind}${r.plan.operation ? ` ${r.plan.operation}` : ''}` : '',
        op ? `${op.role} ${op.outcome}${steps ? ` [${steps}]` : ''}` : '',
        op?.error
          ? `operation error: ${String(op.error.message ?? JSON.stringify(op.error)).slice(0, 200)}`
          : '',
        r.error ? `error: ${String(r.error.message).slice(0, 200)}` : '',
      ];
      return parts.filter(Boolean).join(' ');
    })
    .join('; ');
}

/**
 * How a round that ran past a limit counts: a watchdog invocation that never returned is a violation
 * (no report: the "no silent crash" invariant); anything else stuck (a server start, a check, a child
 * process's pipes) is the harness's. The text names what the round waited for, its steps and
 * invocations, and the tails of the cluster's logs (StallWatch.stalled()).
 */
export function stalledRound(
  round: number,
  fault: Fault,
  watch: StallWatch,
  error: Error,
): { verdict: 'violation' | 'harness error'; text: string } {
  const watchdog = watch.stalledAt?.startsWith('waiting for watchdog invocation') ?? false;
  return {
    verdict: watchdog ? 'violation' : 'harness error',
    text: `round ${round} (${fault}) stalled: ${error.message}`,
  };
}

/** The analysis of a status run in a line: the code, the primary, the servers it is about, its evidence. */
function describeAnalysis(report: CycleReport): string {
  const a = report.analysis;
  if (!a) return `no analysis (${String(report.error?.message ?? 'no error')})`;
  return `${a.code} (primary ${a.primary ?? '?'}${a.affected.length ? `, affected ${a.affected.join(', ')}` : ''}): ${a.evidence.slice(0, 4).join(' | ').slice(0, 400)}`;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosDetails> {
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const roundTimeoutMs = (options.roundTimeoutS ?? 240) * 1000;
  const roundLimitMs = (options.roundLimitS ?? (options.roundTimeoutS ?? 240) + 210) * 1000;
  const schedule = faultSchedule(
    options.seed,
    options.rounds,
    options.only ?? (options.production ? PRODUCTION_FAULTS : FAULTS),
  );
  const violations: string[] = [];
  // Printed the moment it is found, so a long run shows it while it is still going.
  const violate = (text: string): void => {
    violations.push(text);
    out(`VIOLATION ${text}`);
  };
  // A failure of the loop's own plumbing, not of the watchdog: counted apart, never as a violation.
  const harnessErrors: string[] = [];
  const harnessFailure = (text: string): void => {
    harnessErrors.push(text);
    out(`HARNESS ERROR ${text}`);
  };
  const faults: Record<string, number> = {};
  const recoverS: number[] = [];
  const salvaged = new Set<string>();
  const children = new Set<ChildProcess>();
  let failovers = 0;
  let cluster: Cluster | undefined;
  let production: ProductionEnvironment | undefined;
  let writer: AckWriter | undefined;
  let probe: SplitBrainProbe | undefined;
  let census: ConnectionCensus | undefined;
  const loads: SysbenchLoad[] = [];
  const useSysbench = options.sysbench ?? findBinary('sysbench') !== null;
  let lostAckedWrites = 0;
  // The figure is the most ever missing: writes missing for a while and back later (on a server that
  // became primary again) were still missing from the primary the clients wrote to.
  let maxLost = 0;
  let onlySalvaged = 0;
  let acknowledged = 0;

  try {
    cluster = await startCluster({
      servers: options.servers ?? 2,
      groups: options.groups ?? 3,
      name: 'chaos',
      flavor: options.flavor ?? 'mariadb',
      routers: options.routers ?? 'haproxy',
      // MySQL Router: first-available, the seed's strategy. next-available never uses a destination
      // again after one failed connect until a restart: with the new primary as the only destination
      // (the old one fenced), one connect timeout on a loaded machine leaves the router accepting
      // nothing. Failing back is safe here: every server starts read-only, and a fenced one is not
      // among the destinations.
      ...(options.routers === 'mysqlrouter' ? { routerMode: 'failback' as const } : {}),
      // The mode the README recommends: `read_only = ON` in every server's my.cnf, the primary opened
      // by the watchdog. A server restarted by a fault comes back read-only, as in production; with
      // every server writable (the original script's mode), a restarted fenced server is writable
      // again and a router falling back to it is a split brain no watchdog can prevent.
      readOnlyServers: true,
    });
    const c = cluster;
    const config: Config = parseConfig(
      {
        ...c.config(),
        antiFlapSeconds: 0,
        election: { leaseMs: 10_000, followerTimeoutMs: 30_000, pollMs: 100 },
        timeouts: { ...(options.timeouts ?? CHAOS_TIMEOUTS) },
      },
      'chaos',
    );
    const configPath = join(c.dir, 'chaos-config.json');
    writeFileSync(configPath, JSON.stringify(config));
    const routers = sandboxRouterSwitch(config);
    const baseStore = () => openConfiguredStore(config);
    if (options.production) {
      production = await ProductionEnvironment.start({
        cluster: c,
        ...(options.functionLog ? { log: options.functionLog } : {}),
        configExtra: {
          antiFlapSeconds: config.antiFlapSeconds,
          election: config.election,
          timeouts: config.timeouts,
        },
      });
      out(`chaos: production mode: the packaged bundle against the AWS stand-in ${production.standin.url}`);
    }
    out(
      `chaos: seed ${options.seed}, ${options.rounds} rounds, ${c.servers.length} servers, ${c.groups.length} groups; cluster in ${c.dir}`,
    );

    // Load: our acknowledged-writes writer and sysbench, through every router, the whole run.
    const primary0 = c.servers[0]!;
    for (const sql of writerSetupStatements(APP.user, APP.password)) await primary0.query(sql);
    if (useSysbench) await prepareSysbench(primary0);
    for (const r of c.replicas) await c.waitForReplication(r);
    const endpoints = c.groups.flatMap((g) =>
      g.routers.map((r) => ({ group: g.name, name: `${g.name}/${r.port}`, host: r.host, port: r.port })),
    );
    writer = new AckWriter(endpoints, APP, 20, PATIENT_RETRY);
    writer.start();
    if (useSysbench) {
      const test = sysbenchScriptIn(c.dir);
      for (const e of endpoints) loads.push(new SysbenchLoad(e, test));
    }
    for (const l of loads) l.start();
    probe = new SplitBrainProbe(endpoints, APP);
    probe.start();
    census = new ConnectionCensus(c.servers, c.dir);
    census.start();

    const status = async (): Promise<CycleReport> =>
      runCycle(config, {
        trigger: 'cli',
        action: 'check',
        group: c.groups[0]!.name,
        dryRun: true,
        force: false,
      });

    /**
     * The primary by the watchdog's own analysis. A round starts from an `Ok` cluster, so the view is
     * asked again (for up to 60 s) until it says `Ok`: a router that flaps for a moment under the load
     * (its health check times out) must not make the round inject its fault against the wrong server
     * (seen as "could not break replication: db2 is not a replica" while db2 was the primary).
     */
    const currentPrimary = async (note: (line: string) => void = () => {}): Promise<ServerHandle> => {
      let fallback: ServerHandle | undefined;
      // By time, not by count: a status can take 15 s and more on a loaded machine, and 31 of them
      // (the former count) could hold a round for over 15 minutes without a word.
      const started = Date.now();
      for (let i = 1; ; i++) {
        const at = Date.now();
        const r = await status();
        const found = c.serverAt(r.analysis?.primary ?? null);
        if (found && r.analysis?.code === 'Ok') return found;
        note(`status ${i} (${((Date.now() - at) / 1000).toFixed(1)} s): ${describeAnalysis(r)}`);
        fallback = found ?? fallback;
        if (Date.now() - started > CURRENT_PRIMARY_WAIT_MS) {
          if (fallback) {
            out(
              `  not Ok after ${i} statuses in ${((Date.now() - started) / 1000).toFixed(1)} s: taking ${fallback.name} as the primary (last: ${describeAnalysis(r)})`,
            );
            return fallback;
          }
          throw new Error(`no primary in the analysis (${r.analysis?.code ?? r.error?.message})`);
        }
        await sleep(1_000);
      }
    };

    /** Which acknowledged ids one server has and the other lacks (evidence for a checksum difference). */
    const ackedDiff = async (a: ServerHandle, b: ServerHandle): Promise<string> => {
      const ids = async (s: ServerHandle) =>
        new Set((await s.query(`SELECT id FROM ${WRITER_SCHEMA}.${WRITER_TABLE}`)).map((r) => String(r.id)));
      const [x, y] = await Promise.all([ids(a), ids(b)]);
      const onlyA = [...x].filter((i) => !y.has(i));
      const onlyB = [...y].filter((i) => !x.has(i));
      return `read while writes continue: only on ${a.name}: ${onlyA.length} (${onlyA.slice(0, 4).join(', ')}), only on ${b.name}: ${onlyB.length} (${onlyB.slice(0, 4).join(', ')})`;
    };

    const record = (reports: CycleReport[], round: number): void => {
      for (const r of reports) {
        const op = r.operation;
        for (const rec of op?.salvage ?? [])
          for (const t of rec.transactions)
            for (const row of t.rows ?? []) for (const v of row.values) salvaged.add(v);
        if (r.error && !/timed out|ETIMEDOUT|ECONNREFUSED|connect/i.test(String(r.error.message)))
          out(`  round ${round}: ${r.group} reported an error: ${String(r.error.message)}`);
      }
    };

    /** Every group's watchdog at once, in-process; a throw would be a crash without a report. */
    const invokeAll = async (
      round: number,
      trigger: Invocation['trigger'],
      store: () => ObjectStore = baseStore,
    ): Promise<CycleReport[]> => {
      const reports = await Promise.all(
        c.groups.map((g) =>
          production
            ? production.invoke(g.name, productionEvent(trigger, g.name)).then((o) =>
                reportOf(
                  o,
                  trigger,
                  () =>
                    violate(
                      `round ${round}: the function of ${g.name} died without an answer (exit ${o.exitCode})`,
                    ),
                  (message) => harnessFailure(`round ${round}: ${message}`),
                ),
              )
            : runCycle(
                config,
                {
                  trigger,
                  action: 'check',
                  group: g.name,
                  dryRun: false,
                  force: false,
                  ...(trigger === 'alarm' ? { alarm: { name: 'chaos-primary-down', state: 'ALARM' } } : {}),
                },
                { routers, store },
              ).catch((error: unknown) => {
                violate(
                  `round ${round}: the watchdog of ${g.name} crashed without a report: ${errorMessage(error)}`,
                );
                return null;
              }),
        ),
      );
      const ok = reports.filter((r): r is CycleReport => r !== null);
      record(ok, round);
      if (options.reportsDir) {
        mkdirSync(options.reportsDir, { recursive: true });
        appendFileSync(
          join(options.reportsDir, `round-${String(round).padStart(3, '0')}.jsonl`),
          `${ok.map((r) => JSON.stringify({ at: new Date().toISOString(), ...r, snapshot: undefined })).join('\n')}\n`,
        );
      }
      return ok;
    };

    /**
     * One watchdog run in its own process, killed with SIGKILL after `killAfterMs` (if still running).
     * Its report is read whole (on 'close', after the pipe is drained); an exit without any report is
     * a watchdog crash (a violation), a report that cannot be read is a harness error.
     */
    const childCycle = async (
      round: number,
      group: string,
      killAfterMs: number,
    ): Promise<'killed' | 'finished'> => {
      if (production) {
        const o = await production.invoke(group, productionEvent('schedule', group), { killAfterMs });
        if (o.killed) return 'killed';
        const r = reportOf(
          o,
          'schedule',
          () => violate(`round ${round}: function of ${group} exited (${o.exitCode}) without an answer`),
          (message) => harnessFailure(`round ${round}: ${message}`),
        );
        if (r) record([r], round);
        return 'finished';
      }
      const child = spawn(
        process.execPath,
        [resolve('bin/run-ts.mjs'), resolve('functions/sandbox/chaos-child.ts'), configPath, group],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      children.add(child);
      const output = readWhole(child);
      try {
        // The kill clock starts when the child has begun its cycle (loading it can take long when the
        // machine is busy).
        await waitForOutput(child, 'started', 120_000);
        const outcome = await Promise.race([
          output.then(() => 'finished' as const),
          sleep(killAfterMs).then(() => 'kill' as const),
        ]);
        if (outcome === 'kill') {
          child.kill('SIGKILL');
          await output;
          return 'killed';
        }
        const { code, signal, stdout, stderr } = await output;
        const report = lastJsonLine<CycleReport>(stdout);
        if (report.ok) record([report.value], round);
        else if (report.missing)
          violate(
            `round ${round}: child watchdog of ${group} exited (${code ?? signal}) without a report: ${stderr.slice(-500)}`,
          );
        else
          harnessFailure(
            `round ${round}: report of the child watchdog of ${group} unreadable: ${report.error}`,
          );
        return 'finished';
      } finally {
        children.delete(child);
      }
    };

    const waitRoutersOn = async (server: ServerHandle, ms = 60_000): Promise<void> => {
      await Promise.all(c.routers.map((r) => c.waitForRouterTarget(r, server, ms).catch(() => undefined)));
    };

    const runStart = Date.now();
    // Started above; named again for the round closures (a `let` is not narrowed inside them).
    const liveWriter = writer;
    const liveProbe = probe;
    let roundsDone = 0;
    let harnessInARow = 0;
    for (let round = 1; round <= options.rounds; round++) {
      if (options.minutes !== undefined && Date.now() - runStart > options.minutes * 60_000) {
        out(`time budget of ${options.minutes} min reached: stopping after ${roundsDone} rounds`);
        break;
      }
      roundsDone = round;
      const { fault, params } = schedule[round - 1]!;
      const [p1 = 0, p2 = 0, p3 = 0] = params;
      faults[fault] = (faults[fault] ?? 0) + 1;
      // What the round is waiting for, step by step, and every invocation's line: a round that stalls
      // says where (with the log tails of the cluster's servers and routers), instead of hanging the run.
      const watch = new StallWatch(`round ${round} (${fault})`, 1_000);
      watch.folder(c.dir);
      const L = ROUND_STEP_LIMITS_MS;
      try {
        await watch.within(roundLimitMs, async () => {
          const primary = await watch.step('the current primary (status runs)', L.currentPrimary, () =>
            currentPrimary(watch.note),
          );
          watch.note(`primary ${primary.name}`);
          const replicas = c.servers.filter((s) => s !== primary);
          const replica = replicas[Math.floor(p2 * replicas.length)]!;
          const windowsBefore = liveProbe.windows;
          const unconfirmedBefore = liveProbe.unconfirmed;
          const background: Promise<unknown>[] = [];
          let store: () => ObjectStore = baseStore;
          const outage = { down: false, hits: 0 };
          let firstTrigger: Invocation['trigger'] = 'alarm';
          // What each watchdog invocation of the round saw and did, for a round not Ok in time.
          const invocations: string[] = [];
          let note = '';
          const t0 = Date.now();

          /** One line per watchdog invocation of the round (and the note), for a round not Ok in time. */
          const noteInvocation = (
            what: string,
            trigger: Invocation['trigger'],
            invokedAt: number,
            reports: readonly CycleReport[],
          ): void => {
            invocations.push(
              `+${((invokedAt - t0) / 1000).toFixed(1)} s ${what} (${trigger}, ${((Date.now() - invokedAt) / 1000).toFixed(1)} s): ${describeReports(reports)}`,
            );
            watch.note(invocations.at(-1)!);
          };

          /**
           * kill -9 the primary; start it again once every router has moved, after a random pause, or
           * (`failoverFirst`) once an invocation of every group has promoted the replica.
           */
          const killPrimary = async (failoverFirst = false): Promise<void> => {
            await watch.step(`kill -9 of the primary ${primary.name}`, L.fault, () => primary.kill9());
            await watch.step(`every router on ${replica.name}`, L.fault, () => waitRoutersOn(replica));
            if (failoverFirst) {
              const invokedAt = Date.now();
              const reports = await watch.step(
                'the failover: a watchdog invocation of every group (alarm)',
                L.invocation,
                () => invokeAll(round, 'alarm'),
              );
              noteInvocation('the failover', 'alarm', invokedAt, reports);
            } else await sleep(Math.floor(p3 * 3_000));
            await watch.step(`the start of ${primary.name}`, L.fault, () => primary.start());
          };

          switch (fault) {
            case 'kill-primary':
              await killPrimary();
              break;
            case 'hang-primary': {
              const long = p1 >= 0.3;
              await watch.step(`SIGSTOP of the primary ${primary.name}`, L.fault, () => primary.pause());
              if (long)
                await watch.step(`every router on ${replica.name}`, L.fault, () => waitRoutersOn(replica));
              else await sleep(800);
              await watch.step(`SIGCONT of ${primary.name}`, L.fault, () => primary.resume());
              note = long ? 'long hang (routers moved)' : 'short hang (below detection)';
              break;
            }
            case 'kill-replica':
              await watch.step(`kill -9 of the replica ${replica.name}`, L.fault, () => replica.kill9());
              await sleep(Math.floor(p1 * 5_000));
              await watch.step(`the start of ${replica.name}`, L.fault, () => replica.start());
              break;
            case 'break-replication':
              await watch
                .step(`a conflicting row on ${replica.name}`, L.fault, () => c.breakReplication(replica))
                .catch((e: unknown) => {
                  if (isStall(e)) throw e;
                  note = `could not break replication: ${errorMessage(e)}`;
                });
              break;
            case 'restart-router': {
              const r = c.routers[Math.floor(p1 * c.routers.length)]!;
              await watch.step(`the restart of router ${r.port}`, L.fault, () => r.restart());
              note = `router ${r.port}`;
              break;
            }
            case 'kill-operation-master': {
              await killPrimary();
              const killAfter = 300 + Math.floor(p1 * 8_000);
              const res = await watch.step(
                `the operation master of ${c.groups[0]!.name} in a child process (kill after ${killAfter} ms)`,
                L.childCycle,
                () => childCycle(round, c.groups[0]!.name, killAfter),
              );
              note = `master ${res === 'killed' ? `killed ${killAfter} ms into its run` : 'finished before its kill'}`;
              firstTrigger = 'schedule';
              break;
            }
            case 'concurrent-triggers': {
              await killPrimary();
              const all = await watch.step(
                'watchdog invocations by every trigger at once',
                L.invocation,
                () =>
                  Promise.all((['schedule', 'alarm', 'console'] as const).map((t) => invokeAll(round, t))),
              );
              note = `${all.flat().length} invocations at once`;
              firstTrigger = 'schedule';
              break;
            }
            case 'store-down-during-reseed':
              await killPrimary();
              outage.down = true;
              store = storeWithOutage(baseStore, outage);
              break;
            case 'restart-mid-reseed': {
              // The old primary stays down until the watchdog has promoted the replica: started again
              // at once, it may be reopened instead (first-available routers fail back to it), and
              // then nothing is rebuilt.
              await killPrimary(true);
              firstTrigger = 'schedule';
              const target = primary; // the old primary is the one rebuilt
              store = storeRestartingOnRestore(baseStore, () => {
                watch.note(`${target.name}: its restore began; restarting it in the background`);
                const restart = sleep(Math.floor(p1 * 1_500)).then(async () => {
                  await target.restart().catch(async () => target.start());
                  note = `${target.name} restarted during its restore`;
                  watch.note(note);
                });
                // Handled here too: a round that stalls before it awaits the restart must not leave a
                // failed restart as an unhandled rejection (the test runner fails the whole run on one).
                restart.catch(() => undefined);
                background.push(restart);
              });
              break;
            }
          }

          // Watchdog invocations, as the triggers would, until Ok (or the round's time is up). What each
          // one saw and did is kept: a round that is not Ok in time says what every invocation was at.
          let code: string | null = null;
          let attempt = 0;
          for (;;) {
            const trigger: Invocation['trigger'] = attempt === 0 ? firstTrigger : 'schedule';
            const invokedAt = Date.now();
            const reports = await watch.step(
              `watchdog invocation ${attempt + 1} (${trigger}) of every group`,
              L.invocation,
              () => invokeAll(round, trigger, store),
            );
            attempt++;
            noteInvocation(`invocation ${attempt}`, trigger, invokedAt, reports);
            if (outage.down && attempt >= 1) {
              // Storage is back for the following invocations.
              outage.down = false;
              store = baseStore;
            }
            if (fault === 'restart-mid-reseed' && attempt >= 2) store = baseStore;
            if (background.length > 0)
              await watch.step('the restart in the background', L.background, () => Promise.all(background));
            const s = await watch.step('a status run', L.check, status);
            code = s.analysis?.code ?? null;
            invocations.push(`  then: ${describeAnalysis(s)}`);
            watch.note(invocations.at(-1)!);
            if (code === 'Ok' && reports.every((r) => r.operation?.outcome !== 'aborted')) break;
            if (Date.now() - t0 > roundTimeoutMs) {
              violate(
                `round ${round} (${fault}): not Ok after ${roundTimeoutMs / 1000} s (last: ${code}); ${attempt} invocations${note ? `; ${note}` : ''}:\n${invocations.slice(-24).join('\n')}\nsessions per server (connections.log):\n${census?.tail() || '(none yet)'}`,
              );
              break;
            }
            await sleep(1_000);
          }
          const took = (Date.now() - t0) / 1000;
          recoverS.push(took);

          // Invariants.
          const finalPrimary = await watch.step('the final primary (status runs)', L.currentPrimary, () =>
            currentPrimary(watch.note),
          );
          // Counted by the outcome (a new primary), not by Promote steps: a master killed after its
          // Promote leaves the step 'already-done' to the one that takes over.
          if (finalPrimary !== primary) failovers++;
          // The checker's own connections (functions/sandbox/checker.ts): generous timeouts, retried within
          // a deadline; a server it still cannot reach is a harness error, not a violation, and the other
          // checks of the round still run.
          /** A stall goes on up; a server out of the checker's reach is the harness's (true). */
          const checkerFailed = (e: unknown): boolean => {
            if (isStall(e)) throw e;
            if (!(e instanceof CheckerUnreachable)) return false;
            harnessFailure(`round ${round} (${fault}): checker: ${e.message}`);
            return true;
          };
          const checkFailed = (e: unknown, violation: string): void => {
            if (!checkerFailed(e)) violate(violation);
          };
          for (const r of c.servers.filter((s) => s !== finalPrimary)) {
            await watch
              .step(`replication of ${r.name}`, L.check, () =>
                retryWithin(`replication of ${r.name}`, () => c.waitForReplication(r, 60_000)),
              )
              .catch((e: unknown) =>
                checkFailed(e, `round ${round}: ${r.name} not caught up: ${errorMessage(e)}`),
              );
          }
          for (const r of c.servers.filter((s) => s !== finalPrimary)) {
            const cmp = await watch
              .step(`the checksums of ${r.name} and ${finalPrimary.name}`, L.check, () =>
                checksumWithin(checkerConfig(config), finalPrimary.address, r.address),
              )
              .catch((e: unknown) => {
                checkFailed(e, `round ${round}: checksum of ${r.name} failed: ${errorMessage(e)}`);
                return null;
              });
            if (cmp && !cmp.consistent)
              violate(
                `round ${round} (${fault}): ${r.name} differs from the primary ${finalPrimary.name}: ${JSON.stringify({ differing: cmp.differing.map((d) => d.table), missing: cmp.missing, ranPast: cmp.ranPast })}; ${await watch.step(`the acknowledged ids on ${finalPrimary.name} and ${r.name}`, L.check, () => ackedDiff(finalPrimary, r)).catch((e: unknown) => errorMessage(e))}`,
              );
          }
          // Taken before the primary is read: a write acknowledged after the read is not yet "lost".
          const ackedNow = liveWriter.ids();
          const present = new Set(
            (
              await watch.step(`the acknowledged writes on ${finalPrimary.name}`, L.check, () =>
                retryWithin('acknowledged writes on the primary', () =>
                  finalPrimary.query(`SELECT id FROM ${WRITER_SCHEMA}.${WRITER_TABLE}`),
                ),
              )
            ).map((r) => String(r.id)),
          );
          const lost = [...ackedNow].filter((id) => !present.has(id) && !salvaged.has(`@1=${id}`));
          if (lost.length > lostAckedWrites) {
            const byId = new Map(liveWriter.acks.map((a) => [a.id, a]));
            const evidence = lost.slice(0, 5).map((id) => {
              const a = byId.get(id);
              return `${id} (acknowledged by server ${a?.serverId} through ${a?.group} at ${a ? new Date(a.atMs).toISOString() : '?'})`;
            });
            violate(
              `round ${round} (${fault}): ${lost.length} acknowledged writes lost, e.g. ${evidence.join(', ')}`,
            );
          }
          lostAckedWrites = lost.length;
          maxLost = Math.max(maxLost, lost.length);
          onlySalvaged = [...ackedNow].filter((id) => !present.has(id) && salvaged.has(`@1=${id}`)).length;
          for (const s of c.servers) {
            const rows = await watch
              .step(`the operation rows on ${s.name}`, L.check, () =>
                retryWithin(`operation rows on ${s.name}`, () =>
                  s.query(
                    `SELECT COUNT(*) AS n, SUM(lease_until < NOW(6)) AS expired FROM ongoing_failover.operation`,
                  ),
                ),
              )
              .catch((e: unknown) => {
                // No ongoing_failover schema yet is no leftover; a server out of reach is reported.
                checkerFailed(e);
                return [{ n: 0, expired: 0 }];
              });
            if (Number(rows[0]?.n) > 0 && Number(rows[0]?.expired) > 0)
              violate(`round ${round}: leftover ongoing_failover operation on ${s.name} after its lease`);
          }
          const procs = processTable();
          const daemon = c.flavorName === 'mysql' ? 'sbin/mysqld' : 'mariadbd';
          const daemons = procs.filter((p) => p.args.includes(daemon) && p.args.includes(c.dir));
          if (daemons.length !== c.servers.length)
            violate(`round ${round}: ${daemons.length} ${daemon} processes for ${c.servers.length} servers`);
          const strays = procs.filter(
            // Ours only: other runs on the machine have their own cluster folders and ports.
            (p) =>
              (/chaos-child/.test(p.args) && p.args.includes(c.dir)) ||
              (/^\S*(mariadb-binlog|mysqlbinlog)\s/.test(p.args) &&
                c.servers.some((s) => p.args.includes(`${s.port}`))),
          );
          if (strays.length > 0)
            violate(
              `round ${round}: leaked processes: ${strays.map((p) => `${p.pid} ${p.args.slice(0, 80)}`).join('; ')}`,
            );
          const newWindows = liveProbe.windows - windowsBefore;
          if (newWindows > 0)
            violate(
              `round ${round} (${fault}): ${newWindows} split-brain window(s): ${liveProbe.evidence.slice(-newWindows).join(' | ')}`,
            );
          const newUnconfirmed = liveProbe.unconfirmed - unconfirmedBefore;
          if (newUnconfirmed > 0)
            out(
              `  round ${round}: ${newUnconfirmed} pass(es) with two servers writable and no bracket (not a window): ${liveProbe.unconfirmedEvidence.slice(-Math.min(newUnconfirmed, 3)).join(' | ')}`,
            );

          const summary = liveWriter.summary();
          out(
            `round ${String(round).padStart(3)}/${options.rounds} ${fault.padEnd(26)} ${code === 'Ok' ? 'Ok' : `NOT OK (${code})`} in ${took.toFixed(1)} s; primary ${finalPrimary.name}; failovers ${failovers}; acked ${summary.acked}; violations ${violations.length}${note ? `; ${note}` : ''}`,
          );
          // A round that passed but took over half its time says where the time went.
          if (code === 'Ok' && took * 1000 > roundTimeoutMs / 2)
            out(`  slow round ${round}: ${attempt} invocations:\n${invocations.slice(-24).join('\n')}`);
        });
        harnessInARow = 0;
      } catch (error) {
        if (isStall(error)) {
          // A watchdog invocation that never returned is the watchdog's fault (no report: a silent
          // crash); anything else stuck is the harness's. The stuck work may still run: stop here.
          const stall = stalledRound(round, fault, watch, error);
          if (stall.verdict === 'violation') violate(stall.text);
          else harnessFailure(stall.text);
          out(`stopping after round ${round}: it stalled (its work may still be running)`);
          break;
        }
        // The harness failed (a server that would not start, a query of the checker): the round proves
        // nothing either way. It is reported as such; the next round starts from an Ok cluster again.
        harnessInARow++;
        harnessFailure(`round ${round} (${fault}): ${errorMessage(error)}`);
        if (harnessInARow >= MAX_HARNESS_ERRORS_IN_A_ROW) {
          out(`stopping after ${harnessInARow} harness errors in a row`);
          break;
        }
      }
    }

    acknowledged = writer.summary().acked;
    // A probe that never got an answer saw nothing: its zero windows would prove nothing.
    if (probe.samples > 0 && probe.answers === 0)
      harnessFailure(`the split-brain probe got no answer in ${probe.samples} passes`);
    const result: ChaosResult = {
      bench: 'chaos',
      flavor: options.flavor ?? 'mariadb',
      routers: options.routers ?? 'haproxy',
      rounds: roundsDone,
      faults,
      failovers,
      violations: violations.length,
      splitBrainWindows: probe.windows,
      lostAckedWrites: maxLost,
      medianRecoverS: Math.round(median(recoverS) * 10) / 10,
      maxRecoverS: Math.round(Math.max(0, ...recoverS) * 10) / 10,
      harnessErrors: harnessErrors.length,
      ...(options.production ? { mode: 'production' as const, bundle: true as const } : {}),
    };
    const salvagedAcked = onlySalvaged;
    await options.inspect?.({ cluster: c, ...(production ? { production } : {}) });
    return {
      result,
      violations,
      harnessErrors,
      acknowledged,
      salvagedAckedWrites: salvagedAcked,
      recoverS,
      seed: options.seed,
    };
  } finally {
    // Each part stopped within a limit: a part that will not stop is reported (a harness error) and
    // the others are still stopped; the harness reaper ends what is left of the cluster's processes.
    const end = new StallWatch('the end of the chaos run', 1_000);
    if (cluster) end.folder(cluster.dir);
    const stopPart = async (what: string, stop: () => Promise<unknown>): Promise<void> => {
      await end.step(what, ROUND_STEP_LIMITS_MS.teardown, stop).catch((e: unknown) => {
        harnessFailure(`stopping ${what}: ${errorMessage(e)}`);
      });
    };
    if (probe) await stopPart('the split-brain probe', () => probe!.stop());
    if (census) await stopPart('the connection census', () => census!.stop());
    if (writer) await stopPart('the writer', () => writer!.stop());
    await stopPart('the sysbench loads', () => Promise.all(loads.map((l) => l.stop())));
    for (const child of children) child.kill('SIGKILL');
    if (production) await stopPart('the AWS stand-in', () => production!.stop());
    if (cluster) await stopPart('the cluster', () => cluster!.stop());
  }
}
