/**
 * A real local cluster: N MariaDB or MySQL 9.7 servers with GTID replication (db1 the primary, the
 * others its replicas) and M backend groups, each with its own HAProxy router(s) configured like the
 * seed's MySQL Router (primary first, replica second), or real MySQL Router 9.7 routers (for every
 * group, or per group). Used by the integration tests, the benchmarks and the `npm start` sandbox.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Flavor } from '../../cluster/flavor.js';
import {
  haproxyCheckUserStatements,
  replicationGrantStatements,
  watchdogGrantStatements,
} from '../../cluster/grants.js';
import { ProcessError, WatchdogError } from '../../errors.js';
import { HaproxyRouter } from './haproxy.js';
import { DEFAULT_SECTION, type RouterMode } from './haproxy-config.js';
import type { LocalServer } from './local-server.js';
import { ensureTemplate, MariadbServer } from './mariadb.js';
import { ensureMysqlTemplate, MysqlServer } from './mysql.js';
import { MysqlRouter } from './mysqlrouter.js';
import { freePort } from './ports.js';
import { createClusterDir, killAllUnder, registerLive, spawnWatcher, unregisterLive } from './reaper.js';
import { type Connection, type Row, runStatements } from './sql.js';

/** Which database servers a cluster runs: MariaDB 10.11 (the system's) or MySQL 9.7 (setup-mysql.sh). */
export type ClusterFlavor = 'mariadb' | 'mysql';

export interface ClusterOptions {
  servers: 2 | 3;
  /** Default 'mariadb'. */
  flavor?: ClusterFlavor;
  /** Backend groups (default 3). */
  groups?: number;
  /** HAProxy routers per group (default 1). */
  routersPerGroup?: number;
  /**
   * 'haproxy' (default) or 'mysqlrouter': real MySQL Router 9.7 (needs scripts/setup-mysql.sh), with
   * routing_strategy=first-available, switched by rewriting its config and restarting it.
   */
  routers?: RouterKindName;
  /**
   * The router kind of each group, in group order (e.g. deploy/sample.yml's: web a MySQL Router, api
   * an HAProxy); a group not listed gets `routers`. More kinds than groups is an error.
   */
  routerKinds?: readonly RouterKindName[];
  /** 'sticky' (default) keeps to the replica after a primary failure; 'failback' is plain HAProxy. */
  routerMode?: RouterMode;
  /** Parent folder for the cluster folder (default: the common harness root under TMPDIR). */
  baseDir?: string;
  /** Cluster name (default 'sandbox'); also the config's clusterName. */
  name?: string;
  /** Replicas' slave_net_timeout in seconds (default 4: a frozen primary is noticed within seconds). */
  slaveNetTimeout?: number;
  /**
   * Schemas (names or LIKE patterns) the watchdog may write to besides ongoing_failover; default
   * DEFAULT_WATCHDOG_SCHEMAS. Tests that restore data use a schema matching one of them.
   */
  watchdogSchemas?: readonly string[];
  /** Extra mariadbd options for every server (e.g. a bigger buffer pool for a benchmark); last wins. */
  serverArgs?: readonly string[];
  /**
   * Every server starts with read_only=ON (the my.cnf the README recommends for the safest mode): a
   * restarted server, primary or not, comes back read-only. The first primary is opened once at
   * startup. Default: every server writable (the original script's mode).
   */
  readOnlyServers?: boolean;
  /**
   * Every server runs as under systemd (MySQL's unit): a restart it asks for (exit code 16, e.g. after
   * CLONE) starts it again. Default: not supervised, as a server started by hand.
   */
  supervisedServers?: boolean;
  /** Keep the cluster folder after stop() (logs for debugging). */
  keepDir?: boolean;
  /**
   * Told the cluster folder and each startup step as it begins (a StallWatch's `folder` and `note`):
   * a start that stalls can then say what it was waiting for and show the logs.
   */
  progress?: StartupProgress;
}

/** Receives the cluster folder and the startup steps (diagnostics.ts StallWatch fits). */
export interface StartupProgress {
  note(text: string): void;
  folder(dir: string): void;
}

export interface Credentials {
  user: string;
  password: string;
}

export interface ClusterCredentials {
  /** root over the unix socket of each server (empty password; only for the harness itself). */
  root: Credentials;
  watchdog: Credentials;
  replication: Credentials;
  /** HAProxy's health-check account: no password, no privileges. */
  haproxyCheck: { user: string; host: string };
}

export type RouterKindName = 'haproxy' | 'mysqlrouter';

export interface RouterGroup {
  name: string;
  routers: RouterHandle[];
}

/** The watchdog's config for this cluster (the shape functions/config/schema.ts accepts). */
export interface HarnessWatchdogConfig {
  clusterName: string;
  servers: { name: string; host: string; port: number }[];
  groups: {
    name: string;
    routerKind: RouterKindName;
    routers: { host: string; port: number; configPath: string; adminSocket?: string }[];
    section: string;
  }[];
  credentials: { watchdog: Credentials; replication: Credentials };
  objectStore: string;
}

export interface GtidState {
  binlogPos: string;
  currentPos: string;
  slavePos: string;
}

export type ServerHandle = LocalServer;
export type RouterHandle = HaproxyRouter | MysqlRouter;

const HARNESS_DB = 'harness';

/** Where the harness's watchdog may write: its own table, and the schema names tests restore into. */
export const DEFAULT_WATCHDOG_SCHEMAS: readonly string[] = [
  HARNESS_DB,
  'app%',
  'sbtest%',
  'test%',
  'restore%',
];
let writeCounter = 0;

/** A unique row id for harness writes: never collides across servers, so only deliberate conflicts occur. */
function uniqueId(): string {
  writeCounter += 1;
  return `${Date.now()}${String(process.pid % 1000).padStart(3, '0')}${String(writeCounter % 1000).padStart(3, '0')}`;
}

async function withPortRetry<
  T extends { name: string; port: number; setPort(port: number): void; start(): Promise<void> },
>(handle: T, note: (text: string) => void = () => {}, attempts = 5): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await handle.start();
      return;
    } catch (error) {
      const inUse = error instanceof ProcessError && error.details.addressInUse === true;
      if (!inUse || attempt >= attempts) throw error;
      const lost = handle.port;
      handle.setPort(await freePort());
      note(`startCluster: ${handle.name} lost port ${lost} to another process; retrying on ${handle.port}`);
    }
  }
}

/**
 * Runs `write` as root on a MySQL server that may be super_read_only (a fenced or rebuilt one), which
 * refuses even root: plain read_only (root's SUPER writes through it) for the write, then back. How the
 * harness writes "behind the watchdog's back" (errant transactions, conflicting rows) on such a server.
 */
async function asRootThroughSuperReadOnly<T>(connection: Connection, write: () => Promise<T>): Promise<T> {
  const [rows] = await connection.query('SELECT @@GLOBAL.super_read_only AS s').catch(() => [[]]);
  const lifted = Number((rows as Row[])[0]?.s) === 1;
  if (lifted) await connection.query('SET GLOBAL super_read_only = OFF');
  try {
    return await write();
  } finally {
    if (lifted) await connection.query('SET GLOBAL super_read_only = ON');
  }
}

export class Cluster {
  readonly name: string;
  readonly dir: string;
  readonly flavorName: ClusterFlavor;
  /**
   * The production statements for this cluster's servers (functions/cluster/flavor.ts): tests and the
   * harness stop a replica's IO thread, read replica status, etc. with exactly what the watchdog runs.
   */
  readonly sql: Flavor;
  readonly servers: ServerHandle[] = [];
  readonly groups: RouterGroup[] = [];
  readonly credentials: ClusterCredentials;
  readonly objectStoreDir: string;
  private readonly watcherPid: number;
  private readonly keepDir: boolean;
  readonly watchdogSchemas: readonly string[];
  /** How long each startup phase took (ms), for benchmarks and for spotting a slow machine. */
  readonly startupTimings: Record<string, number> = {};
  private stopping: Promise<void> | null = null;

  constructor(
    name: string,
    dir: string,
    watcherPid: number,
    keepDir: boolean,
    watchdogSchemas: readonly string[] = DEFAULT_WATCHDOG_SCHEMAS,
    flavor: ClusterFlavor = 'mariadb',
  ) {
    this.flavorName = flavor;
    // The version only selects statement names: every MySQL 9.x and MariaDB 10.5+ use the same ones.
    this.sql = new Flavor(flavor, flavor === 'mysql' ? '9.7.0' : '10.11.0-MariaDB');
    this.watchdogSchemas = watchdogSchemas;
    this.name = name;
    this.dir = dir;
    this.watcherPid = watcherPid;
    this.keepDir = keepDir;
    this.objectStoreDir = join(dir, 'objects');
    this.credentials = {
      root: { user: 'root', password: '' },
      watchdog: { user: 'watchdog', password: `wd-${randomBytes(9).toString('base64url')}` },
      replication: { user: 'repl', password: `repl-${randomBytes(9).toString('base64url')}` },
      haproxyCheck: { user: 'haproxy_check', host: '127.0.0.1' },
    };
  }

  /** The initial primary. */
  get primary(): ServerHandle {
    return this.servers[0]!;
  }

  get replicas(): ServerHandle[] {
    return this.servers.slice(1);
  }

  /** Every router of every group. */
  get routers(): RouterHandle[] {
    return this.groups.flatMap((group) => group.routers);
  }

  /** Every router, for tests of HAProxy itself (runtime API, reloads); throws on MySQL Router clusters. */
  get haproxyRouters(): HaproxyRouter[] {
    return this.routers.map((router) => {
      if (!(router instanceof HaproxyRouter))
        throw new WatchdogError(`${router.name} is not an HAProxy router`);
      return router;
    });
  }

  server(nameOrAddress: string): ServerHandle {
    const found = this.servers.find((s) => s.name === nameOrAddress || s.address === nameOrAddress);
    if (!found) throw new WatchdogError(`no server ${nameOrAddress} in cluster ${this.name}`);
    return found;
  }

  /** The server a "host:port" string (as routesTo() returns) names, or null. */
  serverAt(address: string | null): ServerHandle | null {
    return address === null ? null : (this.servers.find((s) => s.address === address) ?? null);
  }

  // -------------------------------------------------------------------------------------------------
  // Setup steps (used by startCluster)

  /** Users are created on the primary with binary logging on, so replicas get them through replication. */
  async createUsers(primary: ServerHandle): Promise<void> {
    const { watchdog, replication, haproxyCheck } = this.credentials;
    const flavor = this.flavorName;
    const statements = [
      ...replicationGrantStatements(flavor, { ...replication, host: '%' }),
      ...watchdogGrantStatements(flavor, { ...watchdog, host: '%' }, this.watchdogSchemas),
      // MySQL 8.4+/9 routers check with a tcp-check (haproxy-config.ts): no account to log in with.
      ...(flavor === 'mariadb' ? haproxyCheckUserStatements(haproxyCheck.host, haproxyCheck.user) : []),
    ];
    await runStatements(primary.rootTarget(), statements);
  }

  /** Points a server at a source with GTID auto-positioning and starts both replication threads. */
  async startReplication(replica: ServerHandle, source: ServerHandle): Promise<void> {
    const { replication } = this.credentials;
    await replica.query(this.sql.stopReplica());
    const change = this.sql.changeSource({
      host: source.host,
      port: source.port,
      user: replication.user,
      password: replication.password,
      connectRetrySeconds: 1,
    });
    await replica.query(change.sql, change.values);
    await replica.query(this.sql.startReplica());
  }

  // -------------------------------------------------------------------------------------------------
  // Observation helpers. Their deadlines are for a loaded 2-core machine (a minute); each wait ends
  // as soon as its condition holds, so a generous deadline costs nothing when things go well.

  /**
   * The replica status row, or null when the server is no replica. On MySQL the row also carries the
   * MariaDB column names (Slave_IO_Running, Master_Host, ...) so callers read one set of names.
   */
  async replicationStatus(server: ServerHandle): Promise<Row | null> {
    const rows = await server.query(this.sql.showReplicaStatus());
    const row = rows[0];
    if (!row) return null;
    if (this.flavorName === 'mariadb') return row;
    const aliased: Row = { ...row };
    for (const [key, value] of Object.entries(row)) {
      const old = key.replace(/^Replica_/, 'Slave_').replace(/^Source_/, 'Master_');
      if (old !== key && !(old in aliased)) aliased[old] = value;
    }
    return aliased;
  }

  /**
   * The server's GTID state. MySQL has one GTID set (gtid_executed) where MariaDB has three positions:
   * all three fields carry it there.
   */
  async gtidState(server: ServerHandle): Promise<GtidState> {
    if (this.flavorName === 'mysql') {
      const rows = await server.query<{ e: string }[]>('SELECT @@GLOBAL.gtid_executed AS e');
      const executed = String(rows[0]?.e ?? '').replace(/\s+/g, '');
      return { binlogPos: executed, currentPos: executed, slavePos: executed };
    }
    const rows = await server.query<{ b: string; c: string; s: string }[]>(
      'SELECT @@gtid_binlog_pos AS b, @@gtid_current_pos AS c, @@gtid_slave_pos AS s',
    );
    const row = rows[0]!;
    return { binlogPos: row.b, currentPos: row.c, slavePos: row.s };
  }

  /**
   * Waits until the replica's IO and SQL threads run and it has applied everything its source had
   * logged when we asked (the source's gtid_binlog_pos, via MASTER_GTID_WAIT).
   */
  async waitForReplication(replica: ServerHandle, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: Row | null = null;
    for (;;) {
      last = await this.replicationStatus(replica);
      if (!last) throw new WatchdogError(`${replica.name} is not a replica`);
      if (last.Slave_SQL_Running === 'No' && Number(last.Last_SQL_Errno) !== 0) {
        throw new WatchdogError(
          `${replica.name}: replication SQL thread stopped: ${String(last.Last_SQL_Error)}`,
        );
      }
      if (last.Slave_IO_Running === 'Yes' && last.Slave_SQL_Running === 'Yes') break;
      if (Date.now() > deadline) {
        throw new WatchdogError(
          `${replica.name}: replication threads not running within ${timeoutMs} ms (IO ${String(last.Slave_IO_Running)}: ${String(last.Last_IO_Error ?? '') || 'no error'}; SQL ${String(last.Slave_SQL_Running)}: ${String(last.Last_SQL_Error ?? '') || 'no error'})\n${replica.logs()}`,
          {
            details: {
              io: last.Slave_IO_Running,
              sql: last.Slave_SQL_Running,
              ioError: last.Last_IO_Error,
              sqlError: last.Last_SQL_Error,
            },
          },
        );
      }
      await sleep(50);
    }
    const source = this.serverAt(`${String(last.Master_Host)}:${String(last.Master_Port)}`);
    if (!source) return;
    const { binlogPos } = await this.gtidState(source);
    if (binlogPos === '') return;
    const seconds = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
    const wait = this.sql.waitForGtid(binlogPos, seconds);
    const rows = await replica.query<{ result: number | string }[]>(wait.sql, wait.values);
    if (!this.sql.gtidWaitSucceeded(rows[0]?.result)) {
      throw new WatchdogError(
        `${replica.name} did not reach ${source.name}'s position ${binlogPos} within ${timeoutMs} ms (it has ${(await this.gtidState(replica).catch(() => null))?.currentPos ?? '?'})\n${replica.logs()}`,
      );
    }
  }

  /** Waits until a new connection through the router lands on `server` (null: on nothing). */
  async waitForRouterTarget(
    router: RouterHandle,
    server: ServerHandle | null,
    timeoutMs = 60_000,
  ): Promise<void> {
    const want = server?.address ?? null;
    const deadline = Date.now() + timeoutMs;
    let seen: string | null = null;
    for (;;) {
      seen = await router.routesTo(want === null ? 500 : undefined);
      if (seen === want) return;
      if (Date.now() > deadline) {
        throw new WatchdogError(
          `${router.name} (port ${router.port}) routes to ${seen ?? 'nothing'}, expected ${want ?? 'nothing'} within ${timeoutMs} ms\n${router.logs()}`,
          {
            details: {
              router: router.address,
              seen,
              want,
              states: router instanceof HaproxyRouter ? await router.serverStates().catch(() => null) : null,
            },
          },
        );
      }
      await sleep(100);
    }
  }

  /** Waits until the router's health checks see every server of the cluster UP. */
  async waitForRouterHealthy(router: RouterHandle, timeoutMs = 60_000): Promise<void> {
    // MySQL Router has no health checks: it tries the destinations in order at each connect.
    if (!(router instanceof HaproxyRouter)) return;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await router.serverStates().catch(() => []);
      const up = new Set(states.filter((s) => s.status === 'UP').map((s) => s.name));
      if (this.servers.every((server) => up.has(server.name))) return;
      if (Date.now() > deadline) {
        throw new WatchdogError(`${router.name}: not every server is UP in HAProxy`, { details: { states } });
      }
      await sleep(50);
    }
  }

  // -------------------------------------------------------------------------------------------------
  // Writes and faults

  private async hasHarnessTable(server: ServerHandle): Promise<boolean> {
    const rows = await server.query<{ n: number | string }[]>(
      "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = ? AND table_name = 'writes'",
      [HARNESS_DB],
    );
    return Number(rows[0]?.n) > 0;
  }

  private async createHarnessTable(server: ServerHandle): Promise<void> {
    await runStatements(server.rootTarget(), [
      `CREATE DATABASE IF NOT EXISTS ${HARNESS_DB}`,
      `CREATE TABLE IF NOT EXISTS ${HARNESS_DB}.writes (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, ` +
        'server VARCHAR(16) NOT NULL, note VARCHAR(64) NOT NULL, at DATETIME(6) NOT NULL DEFAULT NOW(6)) ENGINE=InnoDB',
    ]);
  }

  /** The server `replica` replicates from (its configured source), or null. */
  async sourceOf(replica: ServerHandle): Promise<ServerHandle | null> {
    const status = await this.replicationStatus(replica);
    return status ? this.serverAt(`${String(status.Master_Host)}:${String(status.Master_Port)}`) : null;
  }

  /**
   * Makes sure `harness.writes` exists on `server`. startCluster creates it on the primary before the
   * replicas start, so normally this only checks. It never runs DDL needlessly: `CREATE ... IF NOT
   * EXISTS` is binary-logged even when the object exists, which would add GTIDs (errant ones on a
   * replica). A missing table is created on the server's source and replicated when possible.
   */
  async ensureHarnessTable(server: ServerHandle = this.primary): Promise<void> {
    if (await this.hasHarnessTable(server)) return;
    const source = await this.sourceOf(server);
    if (source?.isRunning()) {
      if (!(await this.hasHarnessTable(source))) await this.createHarnessTable(source);
      await this.waitForReplication(server, 10_000).catch(() => undefined);
      if (await this.hasHarnessTable(server)) return;
    }
    await this.createHarnessTable(server);
  }

  /** One committed row on `server` (default: the primary); returns its id and GTID. */
  async writeSomething(
    server: ServerHandle = this.primary,
    note = 'write',
  ): Promise<{ id: string; gtid: string }> {
    await this.ensureHarnessTable(server);
    const id = uniqueId();
    const connection = await server.connect();
    try {
      if (this.flavorName === 'mysql') {
        // MySQL has no @@last_gtid: the server reports the transaction's GTID in the OK packet.
        await connection.query("SET SESSION session_track_gtids = 'OWN_GTID'");
        const [header] = await asRootThroughSuperReadOnly(connection, () =>
          connection.query(`INSERT INTO ${HARNESS_DB}.writes (id, server, note) VALUES (?, ?, ?)`, [
            id,
            server.name,
            note,
          ]),
        );
        const gtids = (header as { stateChanges?: { gtids?: string[] } }).stateChanges?.gtids ?? [];
        return { id, gtid: gtids.join(',') };
      }
      await connection.query(`INSERT INTO ${HARNESS_DB}.writes (id, server, note) VALUES (?, ?, ?)`, [
        id,
        server.name,
        note,
      ]);
      const [rows] = await connection.query('SELECT @@last_gtid AS gtid');
      return { id, gtid: String((rows as Row[])[0]?.gtid ?? '') };
    } finally {
      await connection.end().catch(() => connection.destroy());
    }
  }

  /**
   * Breaks replication on `replica`: a row is inserted there without binary logging (so it is not an
   * errant GTID), then the same key is inserted on its source; the replica's SQL thread stops with a
   * duplicate-key error. Resolves once the SQL thread has stopped; returns the error.
   */
  async breakReplication(
    replica: ServerHandle,
    timeoutMs = 60_000,
  ): Promise<{ errno: number; error: string }> {
    const status = await this.replicationStatus(replica);
    if (!status) throw new WatchdogError(`${replica.name} is not a replica`);
    const source =
      this.serverAt(`${String(status.Master_Host)}:${String(status.Master_Port)}`) ?? this.primary;
    await this.ensureHarnessTable(source);
    await this.waitForReplication(replica);
    const id = uniqueId();
    const connection = await replica.connect();
    try {
      await connection.query('SET SESSION sql_log_bin = 0');
      await asRootThroughSuperReadOnly(connection, () =>
        connection.query(`INSERT INTO ${HARNESS_DB}.writes (id, server, note) VALUES (?, ?, 'conflict')`, [
          id,
          replica.name,
        ]),
      );
    } finally {
      await connection.end().catch(() => connection.destroy());
    }
    await source.query(`INSERT INTO ${HARNESS_DB}.writes (id, server, note) VALUES (?, ?, 'conflict')`, [
      id,
      source.name,
    ]);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const now = await this.replicationStatus(replica);
      if (now && now.Slave_SQL_Running === 'No' && Number(now.Last_SQL_Errno) !== 0) {
        return { errno: Number(now.Last_SQL_Errno), error: String(now.Last_SQL_Error) };
      }
      if (Date.now() > deadline)
        throw new WatchdogError(`${replica.name}: SQL thread did not stop on the conflict`);
      await sleep(50);
    }
  }

  /** A transaction written directly on `server` (normally a replica) that its source lacks; returns its GTID. */
  async createErrantTransaction(server: ServerHandle): Promise<{ id: string; gtid: string }> {
    return this.writeSomething(server, 'errant');
  }

  // -------------------------------------------------------------------------------------------------
  // Config for the watchdog

  /** The watchdog config object describing this cluster. */
  config(): HarnessWatchdogConfig {
    return {
      clusterName: this.name,
      servers: this.servers.map((s) => ({ name: s.name, host: s.host, port: s.port })),
      groups: this.groups.map((group) => ({
        name: group.name,
        routerKind: group.routers[0] instanceof MysqlRouter ? 'mysqlrouter' : 'haproxy',
        routers: group.routers.map((r) => ({
          host: r.host,
          port: r.port,
          configPath: r.configPath,
          ...(r instanceof HaproxyRouter ? { adminSocket: r.adminSocketPath } : {}),
        })),
        section: DEFAULT_SECTION,
      })),
      credentials: {
        watchdog: { ...this.credentials.watchdog },
        replication: { ...this.credentials.replication },
      },
      objectStore: this.objectStoreDir,
    };
  }

  /** Writes config() as JSON to <cluster dir>/watchdog.json and returns the path. */
  configFile(): string {
    const path = join(this.dir, 'watchdog.json');
    mkdirSync(this.objectStoreDir, { recursive: true });
    writeFileSync(path, `${JSON.stringify(this.config(), null, 2)}\n`, { mode: 0o600 });
    return path;
  }

  // -------------------------------------------------------------------------------------------------

  /** Stops every router and server, kills anything left in the folder, removes it. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    await Promise.allSettled(this.routers.map((router) => router.stop(3_000)));
    await Promise.allSettled(this.servers.map((server) => server.stop(10_000)));
    // Anything we lost track of (a process started by a test through our folder) goes too.
    for (let round = 0; round < 3; round++) {
      if (killAllUnder(this.dir, [this.watcherPid]).length === 0) break;
      await sleep(100);
    }
    unregisterLive(this.dir);
    if (!this.keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Starts a cluster; on any failure everything already started is stopped before the error is thrown. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const serverCount = options.servers;
  if (serverCount !== 2 && serverCount !== 3) throw new WatchdogError('servers must be 2 or 3');
  const groupCount = options.groups ?? 3;
  if ((options.routerKinds?.length ?? 0) > groupCount) {
    throw new WatchdogError(
      `routerKinds lists ${options.routerKinds!.length} kinds for ${groupCount} groups`,
    );
  }
  const routersPerGroup = options.routersPerGroup ?? 1;
  const mode = options.routerMode ?? 'sticky';
  const name = options.name ?? 'sandbox';
  const dir = createClusterDir(name, options.baseDir);
  const note = (text: string): void => options.progress?.note(text);
  options.progress?.folder(dir);
  const watcherPid = spawnWatcher(dir);
  registerLive(dir, watcherPid);
  const flavor = options.flavor ?? 'mariadb';
  const cluster = new Cluster(
    name,
    dir,
    watcherPid,
    options.keepDir ?? false,
    options.watchdogSchemas,
    flavor,
  );
  let phaseStart = performance.now();
  const phase = (label: string) => {
    const now = performance.now();
    cluster.startupTimings[label] = Math.round(now - phaseStart);
    phaseStart = now;
  };
  const started = performance.now();
  try {
    note(`startCluster ${name}: waiting for the ${flavor} template datadir (built once per machine)`);
    await (flavor === 'mysql' ? ensureMysqlTemplate() : ensureTemplate());
    phase('template');
    for (let i = 1; i <= serverCount; i++) {
      const serverOptions = {
        name: `db${i}`,
        serverId: i,
        clusterDir: dir,
        port: await freePort(),
        slaveNetTimeout: options.slaveNetTimeout,
        readOnly: options.readOnlyServers ?? false,
        extraArgs: options.serverArgs,
        supervised: options.supervisedServers ?? false,
      };
      cluster.servers.push(
        flavor === 'mysql' ? new MysqlServer(serverOptions) : new MariadbServer(serverOptions),
      );
    }
    note(
      `startCluster ${name}: waiting for ${cluster.servers.map((s) => `${s.name} (port ${s.port})`).join(', ')} to accept connections`,
    );
    await Promise.all(
      cluster.servers.map(async (server) => {
        await server.initialise();
        await withPortRetry(server, note);
      }),
    );
    phase('servers');
    note(`startCluster ${name}: creating the accounts on ${cluster.primary.name}`);
    const primary = cluster.primary;
    if (options.readOnlyServers) await primary.query('SET GLOBAL read_only = OFF');
    await cluster.createUsers(primary);
    await cluster.ensureHarnessTable(primary);
    phase('users');

    const destinations = cluster.servers.map((s) => ({ name: s.name, host: s.host, port: s.port }));
    for (let g = 1; g <= groupCount; g++) {
      const group: RouterGroup = { name: `g${g}`, routers: [] };
      for (let r = 1; r <= routersPerGroup; r++) {
        const common = {
          group: group.name,
          name: `${group.name}r${r}`,
          clusterDir: dir,
          port: await freePort(),
          destinations,
          probeAccount: cluster.credentials.watchdog,
        };
        const kind = options.routerKinds?.[g - 1] ?? options.routers ?? 'haproxy';
        const router =
          kind === 'mysqlrouter'
            ? new MysqlRouter({ ...common, mode })
            : new HaproxyRouter({
                ...common,
                mode,
                healthCheck: flavor === 'mysql' ? 'greeting' : 'mysql-check',
              });
        router.writeConfig();
        group.routers.push(router);
      }
      cluster.groups.push(group);
    }
    // Replicas first: HAProxy's health checks log in as haproxy_check, which reaches the replicas
    // through replication; a router started earlier marks them DOWN for a couple of seconds.
    note(
      `startCluster ${name}: waiting for ${cluster.replicas.map((r) => r.name).join(', ')} to replicate from ${primary.name}`,
    );
    await Promise.all(cluster.replicas.map((replica) => cluster.startReplication(replica, primary)));
    await Promise.all(cluster.replicas.map((replica) => cluster.waitForReplication(replica)));
    phase('replication');
    note(
      `startCluster ${name}: waiting for routers ${cluster.routers.map((r) => `${r.name} (port ${r.port})`).join(', ')} to listen`,
    );
    await Promise.all(cluster.routers.map((router) => withPortRetry(router, note)));
    note(`startCluster ${name}: waiting for every router to route to ${primary.name}`);
    await Promise.all(
      cluster.routers.map(async (router) => {
        await cluster.waitForRouterTarget(router, primary);
        await cluster.waitForRouterHealthy(router);
      }),
    );
    phase('routers');
    cluster.startupTimings.total = Math.round(performance.now() - started);
    note(`startCluster ${name}: up in ${cluster.startupTimings.total} ms`);
    return cluster;
  } catch (error) {
    await cluster.stop().catch(() => undefined);
    throw error;
  }
}
