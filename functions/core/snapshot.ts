/**
 * The types of ONE observation of a cluster: every database server and every router of the watched
 * groups, probed at (nearly) the same moment. Observation fills these; analysis reads only these.
 * Pure data (JSON-serialisable except the parsed GTID sets, which `snapshotToJson` drops and
 * `hydrateSnapshot` rebuilds), so golden tests can store snapshots as files.
 */
import { type GtidFlavor, type GtidSet, MariadbGtidPos, tryParseGtidSet } from './gtid.js';

/** `host:port` as the watchdog connects to it (the configured address). */
export type ServerId = string;

export type YesNoConnecting = 'Yes' | 'No' | 'Connecting' | 'Preparing' | string;

/** A GTID variable as the server printed it, plus its parsed value (null when absent or malformed). */
export interface GtidValue {
  raw: string | null;
  /** Parsed once; not part of the JSON form. */
  parsed?: GtidSet | null;
  parseError?: string | null;
}

export interface ServerGtid {
  /** MySQL `gtid_executed`. For MariaDB null. */
  executed: GtidValue;
  /** MariaDB `gtid_binlog_pos`: what this server wrote to its binary log (own and replicated). */
  binlogPos: GtidValue;
  /** MariaDB `gtid_slave_pos`: what the replication applier has applied. */
  slavePos: GtidValue;
  /** MariaDB `gtid_current_pos`: per domain the later of binlog and slave positions. */
  currentPos: GtidValue;
  /** MySQL `gtid_purged`. */
  purged?: GtidValue;
  /** MariaDB `gtid_binlog_state` (raw; last seq per domain and server_id), for divergence checks. */
  binlogState?: { raw: string | null };
}

/** Normalised replica status; the same fields for every flavor (see cluster/flavor.ts). */
export interface ReplicationStatus {
  sourceHost: string;
  sourcePort: number;
  /** The configured server `sourceHost:sourcePort` names (by address or replication address), if any. */
  sourceId?: ServerId | null;
  /**
   * Set when the source address names no configured server (an alias, e.g. the seed's `BDD_PEER`) and
   * `sourceId` was found by the identity the IO thread last saw: `Master_Server_Id` or `Source_UUID`.
   */
  sourceMatchedBy?: 'server_id' | 'server_uuid';
  /** server_id of the source as the IO thread last saw it (0 when it never connected). */
  sourceServerId: number | null;
  /** MySQL `Source_UUID`; MariaDB has none. */
  sourceUuid: string | null;
  /** `Yes`, `No`, `Connecting` (IO thread trying to reach the source), `Preparing` (MySQL). */
  ioRunning: YesNoConnecting;
  sqlRunning: YesNoConnecting;
  ioState: string;
  sqlState: string;
  lastIoErrno: number;
  lastIoError: string;
  lastSqlErrno: number;
  lastSqlError: string;
  /** null while the IO or SQL thread is not running (the server says NULL). */
  secondsBehind: number | null;
  /** MySQL `Retrieved_Gtid_Set`; MariaDB `Gtid_IO_Pos` (received by the IO thread). */
  retrievedGtid: GtidValue;
  /** MySQL `Executed_Gtid_Set`; MariaDB: `gtid_slave_pos` (applied). */
  executedGtid: GtidValue;
  /** MySQL: `auto-position` or `No`; MariaDB `Using_Gtid`: `No`, `Slave_Pos`, `Current_Pos`. */
  usingGtid: string;
  /** MySQL multi-source channel name ('' for the default); MariaDB connection name (''). */
  channel: string;
  /** `SQL_Delay` (MASTER_DELAY) in seconds; absent when 0 (not a delayed replica). */
  sqlDelay?: number;
}

/**
 * Semi-synchronous replication as the server reports it (MariaDB `rpl_semi_sync_master_*` /
 * `Rpl_semi_sync_master_*`, MySQL 8.0.26+ `…_source_*` / `…_replica_*`).
 */
export interface SemiSyncState {
  /** As a primary: commits wait for a replica's acknowledgement (`rpl_semi_sync_master_enabled`). */
  primaryEnabled: boolean;
  /** As a replica: it acknowledges what it receives (`rpl_semi_sync_slave_enabled`). */
  replicaEnabled: boolean;
  /** The primary side is active now (`Rpl_semi_sync_master_status`; OFF after a timeout fell back to async). */
  primaryActive: boolean | null;
  /** Semi-sync replicas connected (`Rpl_semi_sync_master_clients`). */
  clients: number | null;
  /** Sessions waiting for an acknowledgement right now (`Rpl_semi_sync_master_wait_sessions`). */
  waitSessions: number | null;
  /** The replica side is active now (`Rpl_semi_sync_slave_status`). */
  replicaActive: boolean | null;
  /** How long a commit waits for an acknowledgement before falling back to async (ms). */
  timeoutMs: number | null;
}

/** One source of a multi-source replica. */
export interface ReplicationChannel {
  /** MySQL channel name or MariaDB connection name ('' for the default one). */
  name: string;
  sourceHost: string;
  sourcePort: number;
  /** The configured server it names, if any. */
  sourceId: ServerId | null;
}

/** An operation recorded in `ongoing_failover.status` (filled by the election module's reader). */
export interface OperationInfo {
  epoch: number;
  /** From the OPER signal: `fail`, `repl`, or the newer operation names. */
  op: string | null;
  /** From the MAST signal: who runs it. */
  master: string | null;
  /** Milliseconds until the lease expires by the database clock; null when unknown. */
  leaseExpiresInMs: number | null;
  signals: Array<{ signal: string; value: string; participant?: string | null; at?: string | null }>;
}

export interface ServerObservation {
  id: ServerId;
  host: string;
  port: number;
  reachable: boolean;
  /**
   * The exact failure when unreachable: message and code/errno, and whether connecting failed or a
   * query on an established connection did (a refused privilege or a query timeout is `query`).
   */
  error: { message: string; code: string | null; errno: number | null; stage?: 'connect' | 'query' } | null;
  flavor: GtidFlavor | null;
  version: string | null;
  versionComment: string | null;
  hostname: string | null;
  serverId: number | null;
  serverUuid: string | null;
  readOnly: boolean | null;
  /** MySQL only; null on MariaDB (which has no such variable) or when unknown. */
  superReadOnly: boolean | null;
  binlogEnabled: boolean | null;
  logReplicaUpdates: boolean | null;
  gtid: ServerGtid;
  /**
   * The same GTID variables read once more, after every server's first read had finished. Servers are
   * probed at once, so a replica read a moment after its primary can hold transactions the primary
   * committed in between; whatever a server received from this one was on this one before, so "does
   * another server hold transactions this one lacks" is asked of this later read. Taken only for a
   * server another one looked ahead of; absent otherwise, or when the second read failed.
   */
  gtidLater?: ServerGtid;
  /** MariaDB `gtid_strict_mode`. */
  gtidStrictMode: boolean | null;
  /** MySQL `gtid_mode` (ON, OFF, ON_PERMISSIVE, OFF_PERMISSIVE); MariaDB always has GTIDs: 'ON'. */
  gtidMode: string | null;
  /** null when the server is not a replica (no replica status row). */
  replication: ReplicationStatus | null;
  /**
   * Every replication channel (MySQL) or named connection (MariaDB) when there are several: a
   * multi-source replica, which the watchdog refuses to manage. Absent with one source or none.
   */
  channels?: ReplicationChannel[];
  /** Semi-synchronous replication, when enabled on this server (either side); absent otherwise. */
  semiSync?: SemiSyncState;
  /** A coordination operation recorded on this server; undefined when not read. */
  operation?: OperationInfo | null;
  /** The coordination tables exist but could not be read (grants?): the exact message. */
  operationError?: string | null;
  probeMs: number;
}

export interface RouterObservation {
  group: string;
  /** `host:port` of the router endpoint. */
  id: string;
  reachable: boolean;
  /** The configured server a new connection through the router lands on; null when unknown. */
  routesTo: ServerId | null;
  /** What the server behind the router said about itself. */
  landed: { hostname: string; port: number; serverId: number } | null;
  /** How `routesTo` was matched to a configured server. */
  matchedBy: 'server_id' | 'hostname' | 'port' | 'elimination' | null;
  error: { message: string; code: string | null; errno: number | null } | null;
  probeMs: number;
}

export interface Snapshot {
  /** ISO time the observation started. */
  takenAt: string;
  cluster: string;
  /** The server the configuration names as primary (the routers' first destination); may be null. */
  configuredPrimary: ServerId | null;
  /** Configured servers in configuration order. */
  servers: ServerObservation[];
  groups: string[];
  routers: RouterObservation[];
  /** Queries issued to take this snapshot (benchmarks report it). */
  queries: number;
  /** Network round trips to servers and routers (statements may be batched into one). */
  roundTrips?: number;
  durationMs: number;
  /**
   * How each group's routers were found this run: listed in the configuration, or discovered by EC2
   * tag. A failed or empty discovery leaves the group without routers; the analysis must know why.
   */
  discovery?: RouterDiscovery[];
}

/** Where one group's router endpoints came from in this run. */
export interface RouterDiscovery {
  group: string;
  source: 'config' | 'ec2-tag';
  /** Router endpoints found (0 when discovery failed or found no running instance). */
  found: number;
  /** Why discovery failed (API error, no running instance carrying the tag). */
  error?: string;
}

/** Rebuilds the parsed GTID values (after JSON.parse of a stored snapshot). */
export function hydrateSnapshot(snapshot: Snapshot): Snapshot {
  for (const s of snapshot.servers) {
    const flavor = s.flavor ?? 'mariadb';
    for (const gtid of [s.gtid, s.gtidLater])
      for (const key of ['executed', 'binlogPos', 'slavePos', 'currentPos', 'purged'] as const) {
        const v = gtid?.[key];
        if (v) hydrateGtid(v, flavor);
      }
    if (s.replication) {
      hydrateGtid(s.replication.retrievedGtid, flavor);
      hydrateGtid(s.replication.executedGtid, flavor);
    }
  }
  return snapshot;
}

export function hydrateGtid(v: GtidValue, flavor: GtidFlavor): GtidValue {
  if (v.raw === null) {
    v.parsed = null;
    v.parseError = null;
  } else {
    const { set, error } = tryParseGtidSet(v.raw, flavor);
    v.parsed = set;
    v.parseError = error;
  }
  return v;
}

export function gtidValue(raw: string | null, flavor: GtidFlavor): GtidValue {
  return hydrateGtid({ raw }, flavor);
}

/** A JSON-safe copy (parsed sets dropped; they are rebuilt from `raw`). */
export function snapshotToJson(snapshot: Snapshot): unknown {
  return JSON.parse(
    JSON.stringify(snapshot, (key, value) => (key === 'parsed' ? undefined : value)),
  ) as unknown;
}

/**
 * The set of transactions a server has, for comparisons between servers: MySQL `gtid_executed`;
 * MariaDB `gtid_binlog_pos` (with log_slave_updates it holds replicated and local writes alike),
 * falling back to `gtid_current_pos` when the binary log is off.
 */
export function serverTransactions(s: ServerObservation): GtidSet | null {
  return transactionsOf(s, s.gtid);
}

/**
 * The set a server had by the time every server had been read (its `gtidLater`, when taken): what
 * "does another server hold transactions this one lacks" compares against.
 */
export function laterTransactions(s: ServerObservation): GtidSet | null {
  return transactionsOf(s, s.gtidLater ?? s.gtid);
}

function transactionsOf(s: ServerObservation, gtid: ServerGtid): GtidSet | null {
  if (s.flavor === 'mysql') return gtid.executed.parsed ?? null;
  const binlog = gtid.binlogPos.parsed ?? null;
  if (s.binlogEnabled === false) return gtid.currentPos.parsed ?? binlog;
  const state = gtid.binlogState?.raw;
  if (binlog instanceof MariadbGtidPos && state) {
    try {
      return binlog.withBinlogState(state);
    } catch {
      return binlog;
    }
  }
  return binlog;
}
