/**
 * Observation: one snapshot of every database server and every router, probed in parallel, each
 * with a connect timeout and a query timeout. Never throws for an unreachable server or router: the
 * exact error goes into the snapshot and the analysis decides what it means.
 *
 * Cost per check (counted in `snapshot.queries` / `roundTrips`):
 * - a server: one round trip carrying three statements (global variables, replica status, and whether
 *   the coordination table exists — or, once it is known to exist, its operation row), plus one more
 *   only while an operation is recorded (its signals). The first
 *   probe of an unknown server needs one extra round trip, because replica status is version-specific
 *   and the version is not known yet; a `ConnectionCache` remembers both the connection and the flavor
 *   across warm Lambda invocations.
 * - a router: always a NEW connection and one SELECT, because a router picks the destination per new
 *   connection — a cached connection would keep reporting where the router sent it yesterday.
 * - after every probe has finished, one more round trip to each server another one looked ahead of
 *   (only then; up to two more, 50 ms apart, while it still looks behind): its GTID variables read
 *   again (`gtidLater`). The servers are read at once, so a
 *   replica read a moment after its primary holds transactions the primary committed in between; the
 *   later read is what tells them apart from errant ones. None in a cluster where every set is equal.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SslOptions } from 'mysql2';
import mysql from 'mysql2/promise';
import type { GtidFlavor } from '../core/gtid.js';
import {
  type GtidValue,
  gtidValue,
  laterTransactions,
  type OperationInfo,
  type ReplicationChannel,
  type RouterObservation,
  type SemiSyncState,
  type ServerGtid,
  type ServerObservation,
  type Snapshot,
  serverTransactions,
} from '../core/snapshot.js';
import { COORDINATION_SCHEMA, TABLES } from '../election/schema.js';
import { errorMessage } from '../errors.js';
import { Flavor, OBSERVE_VARIABLES_SQL, SEMI_SYNC_STATUS_SQL } from './flavor.js';
import { mysqlPeerCertificate, openWithTls } from './tls.js';

export interface ObservedServer {
  /** `host:port`, the id used everywhere. */
  id: string;
  host: string;
  port: number;
  /** The address replicas use for this server (CHANGE MASTER TO MASTER_HOST), when different. */
  replicationHost?: string;
  replicationPort?: number;
}

export interface ObservedRouter {
  id: string;
  host: string;
  port: number;
}

export interface ObserveTarget {
  cluster: string;
  servers: ObservedServer[];
  configuredPrimary: string | null;
  groups: Array<{ name: string; routers: ObservedRouter[] }>;
}

export interface ObserveOptions {
  user: string;
  password: string;
  connectTimeoutMs?: number;
  queryTimeoutMs?: number;
  /** TLS to the servers (mysqlTls(config.tls) in cluster/tls.ts). */
  ssl?: SslOptions;
  /** Reuse connections and detected flavors between checks (warm Lambda containers, benchmarks). */
  cache?: ConnectionCache;
  /** Read the ongoing operation (default: the election's tables). `false` skips it. */
  readOperation?: false | ((q: QueryFn) => Promise<OperationInfo | null>);
  /** Clock for takenAt (tests). */
  now?: () => Date;
}

/** The one effect the operation reader needs: run a statement, get rows. */
export type QueryFn = (sql: string, values?: unknown[]) => Promise<Record<string, unknown>[]>;

interface CachedServer {
  conn: mysql.Connection | null;
  flavor: Flavor | null;
  /** The election's tables existed at the last check: read the operation row in the same batch. */
  operationTable?: boolean;
}

/** Connections and flavors kept between checks. Call `close()` when done (tests, CLI exit). */
export class ConnectionCache {
  private readonly entries = new Map<string, CachedServer>();

  entry(key: string): CachedServer {
    let e = this.entries.get(key);
    if (!e) {
      e = { conn: null, flavor: null };
      this.entries.set(key, e);
    }
    return e;
  }

  drop(key: string): void {
    const e = this.entries.get(key);
    if (e?.conn) e.conn.destroy();
    if (e) e.conn = null;
  }

  async close(): Promise<void> {
    for (const e of this.entries.values()) {
      if (e.conn) e.conn.destroy();
      e.conn = null;
    }
    this.entries.clear();
  }
}

type ErrorInfo = { message: string; code: string | null; errno: number | null };

function errorInfo(error: unknown): ErrorInfo {
  const e = error as { code?: unknown; errno?: unknown } | null;
  return {
    message: errorMessage(error),
    code: typeof e?.code === 'string' ? e.code : null,
    errno: typeof e?.errno === 'number' ? e.errno : null,
  };
}

/** Rejects after `ms` unless `p` settles first; `onTimeout` tears down what `p` waits on. */
function withDeadline<T>(p: Promise<T>, ms: number, what: string, onTimeout: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      const err = new Error(`${what} timed out after ${ms} ms`) as Error & { code: string };
      err.code = 'ETIMEDOUT';
      reject(err);
    }, ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

async function connect(
  host: string,
  port: number,
  opts: ObserveOptions,
  multipleStatements: boolean,
): Promise<mysql.Connection> {
  const connectTimeout = opts.connectTimeoutMs ?? 2000;
  let gaveUp = false;
  const p = openWithTls(
    opts.ssl,
    (ssl) =>
      mysql.createConnection({
        host,
        port,
        user: opts.user,
        password: opts.password,
        connectTimeout,
        multipleStatements,
        supportBigNumbers: true,
        bigNumberStrings: true,
        dateStrings: true,
        ...(ssl ? { ssl } : {}),
      }),
    { host, peer: mysqlPeerCertificate, close: (c) => c.destroy() },
  ).then((c) => {
    // A dropped idle connection emits 'error'; without a listener that would crash the process.
    c.on('error', () => {});
    // Connected after we stopped waiting: close it, or its socket would keep the process alive.
    if (gaveUp) c.destroy();
    return c;
  });
  // A SIGSTOPped server accepts TCP (the kernel does) but never sends its handshake: bound it too.
  return withDeadline(p, connectTimeout + 100, `connect to ${host}:${port}`, () => {
    gaveUp = true;
  });
}

/** Runs one (possibly multi-statement) query with the query timeout; returns its result sets. */
async function run(
  conn: mysql.Connection,
  sql: string,
  opts: ObserveOptions,
  values?: unknown[],
): Promise<unknown> {
  const timeout = opts.queryTimeoutMs ?? 5000;
  const p = conn.query({ sql, timeout, values }).then(([rows]) => rows as unknown);
  return withDeadline(p, timeout + 100, 'query', () => conn.destroy());
}

function asRows(result: unknown): Record<string, unknown>[] {
  return Array.isArray(result) ? (result as Record<string, unknown>[]) : [];
}

function variablesFrom(rows: ReadonlyArray<Record<string, unknown>>): Map<string, string> {
  const m = new Map<string, string>();
  for (const r of rows) m.set(String(r.Variable_name).toLowerCase(), String(r.Value ?? ''));
  return m;
}

function onOff(v: string | undefined): boolean | null {
  if (v === undefined) return null;
  return v === '1' || v.toUpperCase() === 'ON';
}

const OPERATION_EXISTS_SQL = `SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${COORDINATION_SCHEMA}' AND TABLE_NAME = 'operation'`;

const OPERATION_ROW_SQL = `SELECT epoch, op, master, TIMESTAMPDIFF(MICROSECOND, NOW(6), lease_until) AS remaining_us FROM ${TABLES.operation} WHERE id = 1`;

/** Reads the election's ongoing operation (null when none). Uses the server's clock for the lease. */
export async function readElectionOperation(q: QueryFn): Promise<OperationInfo | null> {
  const [op] = await q(OPERATION_ROW_SQL);
  return operationFromRow(op, q);
}

async function operationFromRow(
  op: Record<string, unknown> | undefined,
  q: QueryFn,
): Promise<OperationInfo | null> {
  if (!op) return null;
  const signals = await q(
    `SELECT sig, value, participant, created_at FROM ${TABLES.status} WHERE epoch = ? ORDER BY id`,
    [op.epoch],
  );
  return {
    epoch: Number(op.epoch),
    op: op.op === null || op.op === undefined ? null : String(op.op),
    master: op.master === null || op.master === undefined ? null : String(op.master),
    leaseExpiresInMs: op.remaining_us === null ? null : Math.round(Number(op.remaining_us) / 1000),
    signals: signals.map((s) => ({
      signal: String(s.sig),
      value: String(s.value),
      participant: s.participant === null ? null : String(s.participant),
      at: s.created_at === null ? null : String(s.created_at),
    })),
  };
}

function emptyServer(s: ObservedServer): ServerObservation {
  const none = (): GtidValue => ({ raw: null, parsed: null, parseError: null });
  return {
    id: s.id,
    host: s.host,
    port: s.port,
    reachable: false,
    error: null,
    flavor: null,
    version: null,
    versionComment: null,
    hostname: null,
    serverId: null,
    serverUuid: null,
    readOnly: null,
    superReadOnly: null,
    binlogEnabled: null,
    logReplicaUpdates: null,
    gtid: { executed: none(), binlogPos: none(), slavePos: none(), currentPos: none() },
    gtidStrictMode: null,
    gtidMode: null,
    replication: null,
    probeMs: 0,
  };
}

/**
 * The pure half of a server probe: what the variables and the replica status rows say, in snapshot
 * form. Exported so the MySQL variants (no MySQL server runs in our tests) are checked row by row.
 */
export function observationFromRows(
  server: ObservedServer,
  varRows: ReadonlyArray<Record<string, unknown>>,
  statusRows: ReadonlyArray<Record<string, unknown>>,
  configured: readonly ObservedServer[],
): ServerObservation {
  const vars = variablesFrom([...varRows]);
  const flavor = Flavor.detect(vars.get('version') ?? '', vars.get('version_comment') ?? '');
  const obs = emptyServer(server);
  fillFromRows(obs, vars, statusRows, flavor, configured);
  return obs;
}

/** Whether either side of semi-sync is enabled (then its status is worth a round trip). */
export function semiSyncEnabled(vars: ReadonlyMap<string, string>): boolean {
  return [
    'rpl_semi_sync_master_enabled',
    'rpl_semi_sync_slave_enabled',
    'rpl_semi_sync_source_enabled',
    'rpl_semi_sync_replica_enabled',
  ].some((n) => onOff(vars.get(n)) === true);
}

/** The semi-sync state from the observed variables and `SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_%'`. */
export function semiSyncFrom(
  vars: ReadonlyMap<string, string>,
  statusRows: ReadonlyArray<Record<string, unknown>>,
): SemiSyncState | undefined {
  if (!semiSyncEnabled(vars)) return undefined;
  const status = variablesFrom(statusRows); // names lower-cased
  const either = (m: ReadonlyMap<string, string>, a: string, b: string): string | undefined =>
    m.get(a) ?? m.get(b);
  const n = (v: string | undefined): number | null => (v === undefined || v === '' ? null : Number(v));
  return {
    primaryEnabled:
      onOff(either(vars, 'rpl_semi_sync_master_enabled', 'rpl_semi_sync_source_enabled')) === true,
    replicaEnabled:
      onOff(either(vars, 'rpl_semi_sync_slave_enabled', 'rpl_semi_sync_replica_enabled')) === true,
    primaryActive: onOff(either(status, 'rpl_semi_sync_master_status', 'rpl_semi_sync_source_status')),
    clients: n(either(status, 'rpl_semi_sync_master_clients', 'rpl_semi_sync_source_clients')),
    waitSessions: n(
      either(status, 'rpl_semi_sync_master_wait_sessions', 'rpl_semi_sync_source_wait_sessions'),
    ),
    replicaActive: onOff(either(status, 'rpl_semi_sync_slave_status', 'rpl_semi_sync_replica_status')),
    timeoutMs: n(either(vars, 'rpl_semi_sync_master_timeout', 'rpl_semi_sync_source_timeout')),
  };
}

/** The configured server a replica's `host:port` source names (by replication address or address). */
function configuredSource(
  configured: readonly ObservedServer[],
  host: string,
  port: number,
  self?: string,
): string | null {
  // A server never replicates from itself: with the seed's setup every server may carry the same
  // replication alias (BDD_PEER, each host's /etc/hosts naming its peer), and only the others count.
  const found = configured.filter(
    (o) =>
      o.id !== self &&
      (((o.replicationHost ?? o.host) === host && (o.replicationPort ?? o.port) === port) ||
        (o.host === host && o.port === port)),
  );
  return found.length === 1 ? found[0]!.id : null;
}

/**
 * A replica whose source address names no configured server (an alias such as the seed's `BDD_PEER`
 * in the replica's /etc/hosts, which the watchdog cannot resolve) is matched by who its IO thread last
 * reached: `Master_Server_Id` equal to the server_id of exactly one other server we reached (unique in
 * a replication topology), else MySQL's `Source_UUID` equal to its server_uuid. Recorded as
 * `sourceMatchedBy`, so the evidence says an alias was resolved.
 */
export function matchSourcesByIdentity(servers: readonly ServerObservation[]): void {
  for (const s of servers) {
    const r = s.replication;
    if (!r || r.sourceId) continue;
    const others = servers.filter((o) => o.id !== s.id && o.reachable);
    const byId =
      r.sourceServerId !== null && r.sourceServerId > 0
        ? others.filter((o) => o.serverId === r.sourceServerId)
        : [];
    const byUuid = r.sourceUuid ? others.filter((o) => o.serverUuid === r.sourceUuid) : [];
    if (byId.length === 1) {
      r.sourceId = byId[0]!.id;
      r.sourceMatchedBy = 'server_id';
    } else if (byUuid.length === 1) {
      r.sourceId = byUuid[0]!.id;
      r.sourceMatchedBy = 'server_uuid';
    }
  }
}

function fillFromRows(
  obs: ServerObservation,
  vars: Map<string, string>,
  statusRows: ReadonlyArray<Record<string, unknown>>,
  flavor: Flavor,
  configured: readonly ObservedServer[],
): void {
  const f: GtidFlavor = flavor.name;
  obs.reachable = true;
  obs.flavor = f;
  obs.version = vars.get('version') ?? null;
  obs.versionComment = vars.get('version_comment') ?? null;
  obs.hostname = vars.get('hostname') ?? null;
  obs.serverId = vars.has('server_id') ? Number(vars.get('server_id')) : null;
  obs.serverUuid = vars.get('server_uuid') ?? null;
  obs.readOnly = onOff(vars.get('read_only'));
  obs.superReadOnly = flavor.hasSuperReadOnly ? onOff(vars.get('super_read_only')) : null;
  obs.binlogEnabled = onOff(vars.get('log_bin'));
  obs.logReplicaUpdates = onOff(vars.get('log_replica_updates') ?? vars.get('log_slave_updates'));
  const raw = (name: string): string | null => (vars.has(name) ? (vars.get(name) ?? null) : null);
  obs.gtid = gtidFrom(vars, f);
  obs.gtidStrictMode = f === 'mariadb' ? onOff(vars.get('gtid_strict_mode')) : null;
  // MariaDB always writes GTIDs; MySQL must have gtid_mode=ON for auto-positioning.
  obs.gtidMode = f === 'mariadb' ? 'ON' : (vars.get('gtid_mode') ?? null);
  obs.replication = flavor.normalizeReplicaStatus(statusRows, raw('gtid_slave_pos'));
  if (obs.replication) {
    const r = obs.replication;
    r.sourceId = configuredSource(configured, r.sourceHost, r.sourcePort, obs.id);
  }
  if (statusRows.length > 1) obs.channels = statusRows.map((row) => channelOf(row, configured, obs.id));
}

/** A server's GTID variables, from rows named by variable. */
function gtidFrom(vars: ReadonlyMap<string, string>, f: GtidFlavor): ServerGtid {
  const raw = (name: string): string | null => (vars.has(name) ? (vars.get(name) ?? null) : null);
  return {
    executed: gtidValue(f === 'mysql' ? raw('gtid_executed') : null, f),
    binlogPos: gtidValue(raw('gtid_binlog_pos'), f),
    slavePos: gtidValue(raw('gtid_slave_pos'), f),
    currentPos: gtidValue(raw('gtid_current_pos'), f),
    purged: gtidValue(raw('gtid_purged'), f),
    binlogState: { raw: raw('gtid_binlog_state') },
  };
}

/** One replication channel (MySQL) or named connection (MariaDB) of a multi-source replica. */
function channelOf(
  row: Record<string, unknown>,
  configured: readonly ObservedServer[],
  self: string,
): ReplicationChannel {
  const host = String(row.Source_Host ?? row.Master_Host ?? '');
  const port = Number(row.Source_Port ?? row.Master_Port ?? 0);
  return {
    name: String(row.Channel_Name ?? row.Connection_name ?? ''),
    sourceHost: host,
    sourcePort: port,
    sourceId: configuredSource(configured, host, port, self),
  };
}

interface Counter {
  queries: number;
  roundTrips: number;
}

/** A server's connection kept open until the observation ends (for the later GTID read). */
interface OpenServer {
  conn: mysql.Connection;
  flavor: Flavor;
  /** The cache's key when the connection belongs to the cache (kept after the observation). */
  cacheKey: string | null;
}

async function probeServer(
  s: ObservedServer,
  target: ObserveTarget,
  opts: ObserveOptions,
  counter: Counter,
  open: Map<string, OpenServer>,
): Promise<ServerObservation> {
  const t0 = performance.now();
  const cached = opts.cache?.entry(`${opts.user}@${s.id}`)?.conn ?? null;
  let obs = await probeServerOnce(s, target, opts, counter, open);
  if (!obs.reachable && cached) {
    // The cached connection may have died since the last check (server restart, wait_timeout, a
    // router-side reset): that says nothing about the server now. Ask again on a fresh connection.
    obs = await probeServerOnce(s, target, opts, counter, open);
  }
  obs.probeMs = Math.round((performance.now() - t0) * 10) / 10;
  return obs;
}

async function probeServerOnce(
  s: ObservedServer,
  target: ObserveTarget,
  opts: ObserveOptions,
  counter: Counter,
  open: Map<string, OpenServer>,
): Promise<ServerObservation> {
  const obs = emptyServer(s);
  const cache = opts.cache;
  const key = `${opts.user}@${s.id}`;
  const entry = cache?.entry(key) ?? { conn: null, flavor: null };
  let conn = entry.conn;
  let connected = false;
  try {
    if (!conn) {
      conn = await connect(s.host, s.port, opts, true);
      if (cache) entry.conn = conn;
    }
    connected = true;
    const c = conn;
    let flavor = entry.flavor;
    let varRows: Record<string, unknown>[];
    let statusRows: Record<string, unknown>[] | null = null;
    let opTableExists: boolean;
    // Once the election's tables are known to exist (they stay after the first operation), the
    // operation row rides in the same round trip instead of the existence check.
    let opRow: Record<string, unknown>[] | null = null;
    const batchOperation =
      flavor !== null && entry.operationTable === true && opts.readOperation === undefined;
    if (flavor) {
      let res: unknown[];
      try {
        res = (await run(
          c,
          `${OBSERVE_VARIABLES_SQL}; ${flavor.showAllReplicaStatus()}; ${batchOperation ? OPERATION_ROW_SQL : OPERATION_EXISTS_SQL}`,
          opts,
        )) as unknown[];
      } catch (error) {
        const errno = (error as { errno?: unknown }).errno;
        if (batchOperation && (errno === 1146 || errno === 1049)) {
          // The coordination tables were dropped since the last check: ask the plain way again.
          entry.operationTable = false;
          counter.queries += 3;
          counter.roundTrips += 1;
          return probeServerOnce(s, target, opts, counter, open);
        }
        throw error;
      }
      counter.queries += 3;
      counter.roundTrips += 1;
      varRows = asRows(res[0]);
      statusRows = asRows(res[1]);
      if (batchOperation) {
        opTableExists = true;
        opRow = asRows(res[2]);
      } else {
        opTableExists = Number(asRows(res[2])[0]?.n) > 0;
      }
    } else {
      const res = (await run(c, `${OBSERVE_VARIABLES_SQL}; ${OPERATION_EXISTS_SQL}`, opts)) as unknown[];
      counter.queries += 2;
      counter.roundTrips += 1;
      varRows = asRows(res[0]);
      opTableExists = Number(asRows(res[1])[0]?.n) > 0;
    }
    const vars = variablesFrom(varRows);
    const detected = Flavor.detect(vars.get('version') ?? '', vars.get('version_comment') ?? '');
    if (!flavor || flavor.versionString !== detected.versionString) {
      // First sight of this server, or it was upgraded/replaced behind the same address.
      flavor = detected;
      entry.flavor = flavor;
      statusRows = asRows(await run(c, flavor.showAllReplicaStatus(), opts));
      counter.queries += 1;
      counter.roundTrips += 1;
    }
    const gtidSets = flavor.gtidSetsQuery();
    if (gtidSets) {
      const [whole] = asRows(await run(c, gtidSets, opts));
      counter.queries += 1;
      counter.roundTrips += 1;
      for (const name of ['gtid_executed', 'gtid_purged']) {
        const value = whole?.[name];
        if (value !== null && value !== undefined) vars.set(name, String(value));
      }
    }
    fillFromRows(obs, vars, statusRows ?? [], flavor, target.servers);
    if (semiSyncEnabled(vars)) {
      const semi = semiSyncFrom(vars, asRows(await run(c, SEMI_SYNC_STATUS_SQL, opts)));
      counter.queries += 1;
      counter.roundTrips += 1;
      if (semi) obs.semiSync = semi;
    }
    entry.operationTable = opTableExists;
    if (opTableExists && opts.readOperation !== false) {
      const q: QueryFn = async (sql, values) => {
        counter.queries += 1;
        counter.roundTrips += 1;
        return asRows(await run(c, sql, opts, values));
      };
      const reader =
        opRow !== null
          ? (qq: QueryFn) => operationFromRow(opRow?.[0], qq)
          : (opts.readOperation ?? readElectionOperation);
      try {
        obs.operation = await reader(q);
      } catch (error) {
        // The server answered; only the coordination read failed (grants, a table being dropped).
        obs.operation = undefined;
        obs.operationError = errorMessage(error);
      }
    } else {
      obs.operation = null;
    }
    open.set(s.id, { conn: c, flavor, cacheKey: cache ? key : null });
  } catch (error) {
    obs.reachable = false;
    obs.error = { ...errorInfo(error), stage: connected ? 'query' : 'connect' };
    // Forget what we knew: a server replaced behind the same address (another version, where the
    // cached replica-status statement no longer exists) must be probed from scratch next time.
    entry.flavor = null;
    entry.operationTable = undefined;
    if (cache) cache.drop(key);
    else conn?.destroy();
  }
  return obs;
}

/**
 * What a connection through a router asks to learn which server it landed on. `FOR UPDATE`: ProxySQL's
 * read/write split (its documented rules: `^SELECT.*FOR UPDATE$` to the writer hostgroup, `^SELECT` to
 * the readers) would send a plain SELECT to a reader, and the probe would report the routers on a
 * replica. MariaDB and MySQL accept the locking clause on a SELECT without tables, and take no lock.
 */
export const ROUTER_PROBE_SQL =
  'SELECT @@hostname AS hostname, @@port AS port, @@server_id AS server_id FOR UPDATE';

async function probeRouter(
  group: string,
  r: ObservedRouter,
  opts: ObserveOptions,
  counter: Counter,
): Promise<RouterObservation> {
  const t0 = performance.now();
  const obs: RouterObservation = {
    group,
    id: r.id,
    reachable: false,
    routesTo: null,
    landed: null,
    matchedBy: null,
    error: null,
    probeMs: 0,
  };
  let conn: mysql.Connection | null = null;
  try {
    conn = await connect(r.host, r.port, opts, false);
    const rows = asRows(await run(conn, ROUTER_PROBE_SQL, opts));
    counter.queries += 1;
    counter.roundTrips += 1;
    const row = rows[0] ?? {};
    obs.reachable = true;
    obs.landed = {
      hostname: String(row.hostname ?? ''),
      port: Number(row.port),
      serverId: Number(row.server_id),
    };
  } catch (error) {
    obs.error = errorInfo(error);
  } finally {
    conn?.destroy();
  }
  obs.probeMs = Math.round((performance.now() - t0) * 10) / 10;
  return obs;
}

/**
 * Maps what a router's connection landed on to a configured server:
 * 1. server_id equal to a server we reached ourselves (unique per server in a replication topology);
 * 2. else @@hostname equal to a configured host or replication host, with the same port;
 * 3. else a port that only one configured server uses (local setups: all on 127.0.0.1);
 * 4. else elimination: exactly one configured server whose server_id we could not read, and the
 *    landed server_id is none of the ones we know (a server we cannot reach but the router can).
 */
export function matchRouterTarget(
  landed: { hostname: string; port: number; serverId: number },
  servers: readonly ServerObservation[],
  configured: readonly ObservedServer[],
): { id: string; by: RouterObservation['matchedBy'] } | null {
  const byId = servers.filter((s) => s.serverId !== null && s.serverId === landed.serverId);
  if (byId.length === 1) return { id: byId[0]!.id, by: 'server_id' };
  const byHost = configured.filter(
    (c) => (c.host === landed.hostname || c.replicationHost === landed.hostname) && c.port === landed.port,
  );
  if (byHost.length === 1) return { id: byHost[0]!.id, by: 'hostname' };
  const byPort = configured.filter((c) => c.port === landed.port);
  if (byPort.length === 1) return { id: byPort[0]!.id, by: 'port' };
  const known = new Set(servers.filter((s) => s.serverId !== null).map((s) => s.serverId));
  const unknown = servers.filter((s) => s.serverId === null);
  if (!known.has(landed.serverId) && unknown.length === 1) return { id: unknown[0]!.id, by: 'elimination' };
  return null;
}

/** Takes one snapshot. Never throws for a server or router that cannot be reached. */
export async function observe(target: ObserveTarget, opts: ObserveOptions): Promise<Snapshot> {
  const takenAt = (opts.now?.() ?? new Date()).toISOString();
  const t0 = performance.now();
  const counter: Counter = { queries: 0, roundTrips: 0 };
  const routerList = target.groups.flatMap((g) => g.routers.map((r) => ({ group: g.name, r })));
  const open = new Map<string, OpenServer>();
  let servers: ServerObservation[];
  let routers: RouterObservation[];
  try {
    [servers, routers] = await Promise.all([
      Promise.all(target.servers.map((s) => probeServer(s, target, opts, counter, open))),
      Promise.all(routerList.map(({ group, r }) => probeRouter(group, r, opts, counter))),
    ]);
    await readGtidLater(servers, open, opts, counter);
  } finally {
    for (const o of open.values()) if (o.cacheKey === null) o.conn.destroy();
  }
  matchSourcesByIdentity(servers);
  for (const r of routers) {
    if (!r.landed) continue;
    const m = matchRouterTarget(r.landed, servers, target.servers);
    r.routesTo = m?.id ?? null;
    r.matchedBy = m?.by ?? null;
  }
  return {
    takenAt,
    cluster: target.cluster,
    configuredPrimary: target.configuredPrimary,
    servers,
    groups: target.groups.map((g) => g.name),
    routers,
    queries: counter.queries,
    roundTrips: counter.roundTrips,
    durationMs: Math.round((performance.now() - t0) * 10) / 10,
  };
}

/**
 * Reads again, now that every server has been read once, the GTID variables of each server another
 * one looked ahead of (it holds transactions this one lacked at its first read). A failed read
 * leaves the server without `gtidLater`; comparisons then use its first read, as before.
 */
async function readGtidLater(
  servers: ServerObservation[],
  open: ReadonlyMap<string, OpenServer>,
  opts: ObserveOptions,
  counter: Counter,
): Promise<void> {
  /** Whether another server's first read holds transactions `o` lacks (in its later read, if taken). */
  const behind = (o: ServerObservation): boolean => {
    const mine = laterTransactions(o);
    return (
      mine !== null &&
      servers.some((s) => {
        const theirs = s === o ? null : serverTransactions(s);
        return theirs !== null && theirs.flavor === mine.flavor && !theirs.difference(mine).isEmpty();
      })
    );
  };
  await Promise.all(
    servers.filter(behind).map(async (o) => {
      const server = open.get(o.id);
      if (!server || !o.flavor) return;
      // A source sends a transaction to its replicas once it is in the binary log, and adds it to its
      // own gtid_executed a moment later (MySQL's commit stage): a replica may show it first. Read
      // again, briefly, while the other server still looks ahead; what stays is what the analysis sees.
      for (let attempt = 0; attempt < LATER_READS; attempt++) {
        if (attempt > 0) await sleep(LATER_READ_PAUSE_MS);
        counter.queries += 1;
        counter.roundTrips += 1;
        try {
          const [row] = asRows(await run(server.conn, server.flavor.gtidVariablesQuery(), opts));
          const vars = new Map<string, string>();
          for (const [name, value] of Object.entries(row ?? {}))
            if (value !== null && value !== undefined) vars.set(name, String(value));
          o.gtidLater = gtidFrom(vars, o.flavor);
        } catch {
          // The reads so far stand. A cached connection that failed is not trusted for the next check.
          if (server.cacheKey !== null) opts.cache?.drop(server.cacheKey);
          return;
        }
        if (!behind(o)) return;
      }
    }),
  );
}

/** Later reads of one server at most, and the pause between them (a commit in flight ends in ms). */
const LATER_READS = 3;
const LATER_READ_PAUSE_MS = 50;

/** The observation target of a validated configuration (all groups, or only `groups`). */
export function targetFromConfig(
  config: {
    clusterName: string;
    primary?: string | undefined;
    servers: ReadonlyArray<ObservedServer>;
    groups: ReadonlyArray<{ name: string; routers: ReadonlyArray<ObservedRouter> }>;
  },
  groups?: readonly string[],
): ObserveTarget {
  return {
    cluster: config.clusterName,
    configuredPrimary: config.primary ?? config.servers[0]?.id ?? null,
    servers: config.servers.map((s) => ({
      id: s.id,
      host: s.host,
      port: s.port,
      replicationHost: s.replicationHost,
      replicationPort: s.replicationPort,
    })),
    groups: config.groups
      .filter((g) => !groups || groups.includes(g.name))
      .map((g) => ({
        name: g.name,
        routers: g.routers.map((r) => ({ id: r.id, host: r.host, port: r.port })),
      })),
  };
}
