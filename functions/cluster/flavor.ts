/**
 * Every version-specific SQL statement of the watchdog, in one place, for MariaDB 10.x/11.x and
 * MySQL 5.7 / 8.0 / 8.4+ (and 9.x, which keeps 8.4's names).
 *
 * The version boundaries (MySQL reference manual and release notes):
 * - 8.0.22: SHOW REPLICA STATUS / START|STOP|RESET REPLICA / SHOW REPLICAS, and the replica status
 *   columns renamed (Replica_IO_Running, Source_Host, Seconds_Behind_Source, ...).
 * - 8.0.23: CHANGE REPLICATION SOURCE TO with SOURCE_* options (SOURCE_AUTO_POSITION,
 *   GET_SOURCE_PUBLIC_KEY).
 * - 8.2.0: SHOW BINARY LOG STATUS and RESET BINARY LOGS AND GTIDS.
 * - 8.4.0: the old statements are removed (START/STOP/RESET SLAVE, SHOW SLAVE STATUS, CHANGE MASTER TO,
 *   RESET MASTER, SHOW MASTER STATUS, MASTER_* options) and WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS() is gone
 *   (WAIT_FOR_EXECUTED_GTID_SET, available since 5.7.5, replaces it).
 * - MySQL has super_read_only since 5.7.8. MariaDB (checked on 10.11) has no super_read_only variable:
 *   `SELECT @@super_read_only` fails with ER_UNKNOWN_SYSTEM_VARIABLE (1193); read_only is all it has,
 *   and users with READ_ONLY ADMIN (10.11) still write through it.
 * - MariaDB keeps the SLAVE / MASTER statements (10.5 added REPLICA aliases) and its SHOW REPLICA
 *   STATUS prints the old Slave_* / Master_* column names; GTIDs are `domain-server-seq` positions
 *   and auto-positioning is `MASTER_USE_GTID = slave_pos | current_pos`.
 *
 * MySQL 8 servers cannot be installed on the test machines, so the MySQL statements here are covered
 * by statement-level unit tests; the MariaDB ones also run against real servers.
 */
import { format } from 'mysql2';
import type { GtidFlavor } from '../core/gtid.js';
import { type GtidValue, gtidValue, type ReplicationStatus } from '../core/snapshot.js';
import { WatchdogError } from '../errors.js';

export interface ServerVersion {
  major: number;
  minor: number;
  patch: number;
}

/** A statement with `?` placeholders, expanded client-side by mysql2 (`query`, not `execute`). */
export interface Statement {
  sql: string;
  values?: unknown[];
}

export interface ChangeSourceOptions {
  /** The address replication uses for the source (may differ from the watchdog's address). */
  host: string;
  port: number;
  user: string;
  password: string;
  connectRetrySeconds?: number;
  /** MariaDB: `slave_pos` (default; after a restore) or `current_pos` (a former primary rejoining). */
  mariadbGtidMode?: 'slave_pos' | 'current_pos';
  /**
   * MySQL 8.0+: ask the source for its RSA key (caching_sha2_password without TLS). Only over a TLS
   * channel that verifies the source: over any other, a man in the middle hands out his own key and
   * reads the replication password. Default false; with TLS the password needs no key.
   */
  getSourcePublicKey?: boolean;
  /** Replication over TLS (MASTER_SSL / SOURCE_SSL = 1). */
  ssl?: boolean;
  /** ...and the source's certificate checked (MASTER_SSL_VERIFY_SERVER_CERT = 1). */
  verifyServerCert?: boolean;
}

/** Global variables the observation reads. Names a server does not know are simply absent. */
export const OBSERVED_VARIABLES = [
  'version',
  'version_comment',
  'hostname',
  'port',
  'server_id',
  'server_uuid',
  'read_only',
  'super_read_only',
  'log_bin',
  'log_slave_updates',
  'log_replica_updates',
  // MySQL
  'gtid_mode',
  'gtid_executed',
  'gtid_purged',
  'enforce_gtid_consistency',
  // MariaDB
  'gtid_binlog_pos',
  'gtid_binlog_state',
  'gtid_current_pos',
  'gtid_slave_pos',
  'gtid_strict_mode',
  'gtid_domain_id',
  // Semi-synchronous replication: MariaDB (built in), MySQL 8.0.26+ names, older MySQL plugin names.
  'rpl_semi_sync_master_enabled',
  'rpl_semi_sync_slave_enabled',
  'rpl_semi_sync_master_timeout',
  'rpl_semi_sync_source_enabled',
  'rpl_semi_sync_replica_enabled',
  'rpl_semi_sync_source_timeout',
] as const;

/**
 * The global privileges of the session's own account (MySQL 8.0+ lists dynamic ones such as
 * BACKUP_ADMIN here too). A privilege held only through a role does not show.
 */
export const OWN_GLOBAL_PRIVILEGES_SQL =
  "SELECT PRIVILEGE_TYPE AS p FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')";

/** What CLONE needs of the watchdog: on the donor (the recipient logs in there with its account) and on the recipient. */
export const CLONE_PRIVILEGES = {
  donor: ['BACKUP_ADMIN'],
  recipient: ['CLONE_ADMIN', 'PERSIST_RO_VARIABLES_ADMIN'],
} as const;

/** Read only where semi-sync is enabled (one more round trip there, none elsewhere). */
export const SEMI_SYNC_STATUS_SQL = "SHOW GLOBAL STATUS LIKE 'Rpl\\_semi\\_sync\\_%'";

/**
 * One statement that works on every flavor and version: unknown names are just missing rows, where
 * `SELECT @@super_read_only` would fail on MariaDB. This is what lets a first probe of an unknown
 * server read everything in one round trip.
 */
export const OBSERVE_VARIABLES_SQL = `SHOW GLOBAL VARIABLES WHERE Variable_name IN (${OBSERVED_VARIABLES.map(
  (v) => `'${v}'`,
).join(',')})`;

/**
 * The `mysql` tables that hold accounts, their authentication and their privileges, per flavor: what
 * a rebuilt server copies from its source so that every login and grant works on it as on the source.
 * Replication state (gtid_slave_pos, slave_master_info, gtid_executed, ...) is never among them.
 * - MariaDB 10.4+: global_priv (mysql.user is a view over it), db, tables_priv, columns_priv,
 *   procs_priv, proxies_priv, roles_mapping.
 * - MySQL 8.0+: user, db, tables_priv, columns_priv, procs_priv, proxies_priv, role_edges,
 *   default_roles, global_grants, password_history.
 */
export const ACCOUNT_TABLES: Readonly<Record<GtidFlavor, readonly string[]>> = {
  mariadb: [
    'global_priv',
    'db',
    'tables_priv',
    'columns_priv',
    'procs_priv',
    'proxies_priv',
    'roles_mapping',
  ],
  mysql: [
    'user',
    'db',
    'tables_priv',
    'columns_priv',
    'procs_priv',
    'proxies_priv',
    'role_edges',
    'default_roles',
    'global_grants',
    'password_history',
  ],
};

/**
 * Accounts a server's installation creates for itself; a copy of the source's accounts leaves the
 * target's own ones as they are (`root`@`localhost` may authenticate differently on every host).
 */
export const LOCAL_ACCOUNTS: Readonly<Record<GtidFlavor, readonly (readonly [string, string])[]>> = {
  mariadb: [
    ['root', 'localhost'],
    ['mariadb.sys', 'localhost'],
    ['mysql', 'localhost'],
  ],
  mysql: [
    ['root', 'localhost'],
    ['mysql.sys', 'localhost'],
    ['mysql.session', 'localhost'],
    ['mysql.infoschema', 'localhost'],
  ],
};

export function parseVersion(version: string): ServerVersion {
  // MariaDB behind some proxies reports "5.5.5-10.11.6-MariaDB" for old clients; skip that prefix.
  const v = version.replace(/^5\.5\.5-/, '');
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(v);
  if (!m) throw new WatchdogError(`Cannot read a server version from "${version}"`);
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0) };
}

export function detectFlavorName(version: string, versionComment = ''): GtidFlavor {
  return /mariadb/i.test(version) || /mariadb/i.test(versionComment) ? 'mariadb' : 'mysql';
}

function atLeast(v: ServerVersion, major: number, minor: number, patch: number): boolean {
  if (v.major !== major) return v.major > major;
  if (v.minor !== minor) return v.minor > minor;
  return v.patch >= patch;
}

export class Flavor {
  readonly name: GtidFlavor;
  readonly version: ServerVersion;
  readonly versionString: string;

  constructor(name: GtidFlavor, versionString: string) {
    this.name = name;
    this.versionString = versionString;
    this.version = parseVersion(versionString);
  }

  static detect(version: string, versionComment = ''): Flavor {
    return new Flavor(detectFlavorName(version, versionComment), version);
  }

  get isMariadb(): boolean {
    return this.name === 'mariadb';
  }

  /** MySQL 8.0.22+: REPLICA statements and the renamed replica status columns. */
  get usesReplicaTerms(): boolean {
    return !this.isMariadb && atLeast(this.version, 8, 0, 22);
  }

  /**
   * The semi-sync switches: MariaDB's built-in `rpl_semi_sync_master/slave_enabled`; MySQL 8.0.26+
   * `rpl_semi_sync_source/replica_enabled` (the semisync_source / semisync_replica plugins, which
   * must be installed).
   */
  semiSyncVariable(role: 'primary' | 'replica'): string {
    const modern = !this.isMariadb && atLeast(this.version, 8, 0, 26);
    if (role === 'primary') return modern ? 'rpl_semi_sync_source_enabled' : 'rpl_semi_sync_master_enabled';
    return modern ? 'rpl_semi_sync_replica_enabled' : 'rpl_semi_sync_slave_enabled';
  }

  /** MySQL 8.0.23+: CHANGE REPLICATION SOURCE TO. */
  get usesChangeReplicationSource(): boolean {
    return !this.isMariadb && atLeast(this.version, 8, 0, 23);
  }

  /** MySQL 8.2+: RESET BINARY LOGS AND GTIDS / SHOW BINARY LOG STATUS (the old names go in 8.4). */
  get usesBinaryLogTerms(): boolean {
    return !this.isMariadb && atLeast(this.version, 8, 2, 0);
  }

  get hasSuperReadOnly(): boolean {
    return !this.isMariadb && atLeast(this.version, 5, 7, 8);
  }

  // ------------------------------------------------------------ replica status and threads

  showReplicaStatus(): string {
    return this.usesReplicaTerms ? 'SHOW REPLICA STATUS' : 'SHOW SLAVE STATUS';
  }

  /**
   * Every source of a replica, one row each: MySQL's statement already lists every channel; MariaDB's
   * shows only the default connection, `SHOW ALL SLAVES STATUS` every named one (multi-source).
   */
  showAllReplicaStatus(): string {
    return this.isMariadb ? 'SHOW ALL SLAVES STATUS' : this.showReplicaStatus();
  }

  startReplica(): string {
    return this.usesReplicaTerms ? 'START REPLICA' : 'START SLAVE';
  }

  stopReplica(): string {
    return this.usesReplicaTerms ? 'STOP REPLICA' : 'STOP SLAVE';
  }

  /** Stops only the IO thread: no more events from the source, the applier finishes what it has. */
  stopReplicaIoThread(): string {
    return this.usesReplicaTerms ? 'STOP REPLICA IO_THREAD' : 'STOP SLAVE IO_THREAD';
  }

  /** Forgets the source entirely (a promoted server must not reconnect to its old source). */
  resetReplicaAll(): string {
    return this.usesReplicaTerms ? 'RESET REPLICA ALL' : 'RESET SLAVE ALL';
  }

  showReplicas(): string {
    if (this.isMariadb) return 'SHOW SLAVE HOSTS';
    return this.usesReplicaTerms ? 'SHOW REPLICAS' : 'SHOW SLAVE HOSTS';
  }

  showBinaryLogStatus(): string {
    return this.usesBinaryLogTerms ? 'SHOW BINARY LOG STATUS' : 'SHOW MASTER STATUS';
  }

  /** Points this server at a source with GTID auto-positioning. */
  changeSource(o: ChangeSourceOptions): Statement {
    const retry = o.connectRetrySeconds;
    if (this.isMariadb) {
      const parts = ['MASTER_HOST = ?', 'MASTER_PORT = ?', 'MASTER_USER = ?', 'MASTER_PASSWORD = ?'];
      const values: unknown[] = [o.host, o.port, o.user, o.password];
      if (retry !== undefined) {
        parts.push('MASTER_CONNECT_RETRY = ?');
        values.push(retry);
      }
      if (o.ssl) parts.push('MASTER_SSL = 1');
      if (o.ssl && o.verifyServerCert) parts.push('MASTER_SSL_VERIFY_SERVER_CERT = 1');
      // The GTID mode is a keyword, not a string: validated, never interpolated from outside.
      const mode = o.mariadbGtidMode ?? 'slave_pos';
      if (mode !== 'slave_pos' && mode !== 'current_pos')
        throw new WatchdogError(`Bad MASTER_USE_GTID ${mode}`);
      parts.push(`MASTER_USE_GTID = ${mode}`);
      return { sql: `CHANGE MASTER TO ${parts.join(', ')}`, values };
    }
    const modern = this.usesChangeReplicationSource;
    const p = modern ? 'SOURCE' : 'MASTER';
    const parts = [`${p}_HOST = ?`, `${p}_PORT = ?`, `${p}_USER = ?`, `${p}_PASSWORD = ?`];
    const values: unknown[] = [o.host, o.port, o.user, o.password];
    if (retry !== undefined) {
      parts.push(`${p}_CONNECT_RETRY = ?`);
      values.push(retry);
    }
    if (o.ssl) parts.push(`${p}_SSL = 1`);
    if (o.ssl && o.verifyServerCert) parts.push(`${p}_SSL_VERIFY_SERVER_CERT = 1`);
    parts.push(`${p}_AUTO_POSITION = 1`);
    if (o.getSourcePublicKey && atLeast(this.version, 8, 0, 4)) {
      if (!o.ssl || !o.verifyServerCert) {
        throw new WatchdogError(
          'GET_SOURCE_PUBLIC_KEY only over a TLS channel that verifies the source: anywhere else the replication password goes to whoever answers',
        );
      }
      parts.push(modern ? 'GET_SOURCE_PUBLIC_KEY = 1' : 'GET_MASTER_PUBLIC_KEY = 1');
    }
    return {
      sql: `${modern ? 'CHANGE REPLICATION SOURCE TO' : 'CHANGE MASTER TO'} ${parts.join(', ')}`,
      values,
    };
  }

  // ------------------------------------------------------------ read-only / fencing

  /**
   * Fences (on=true) or opens (on=false) the server for writes. MySQL: super_read_only also blocks
   * SUPER / CONNECTION_ADMIN users; setting it ON implies read_only ON, and read_only OFF implies
   * super_read_only OFF. MariaDB has only read_only.
   */
  setReadOnly(on: boolean): string[] {
    if (on)
      return this.hasSuperReadOnly ? ['SET GLOBAL super_read_only = ON'] : ['SET GLOBAL read_only = ON'];
    return this.hasSuperReadOnly
      ? ['SET GLOBAL super_read_only = OFF', 'SET GLOBAL read_only = OFF']
      : ['SET GLOBAL read_only = OFF'];
  }

  /**
   * Read-only for the applications, still writable for the watchdog: MySQL's `super_read_only` refuses
   * every write, even SUPER's and CONNECTION_ADMIN's, while plain `read_only` lets the watchdog's
   * CONNECTION_ADMIN through (MariaDB: READ_ONLY ADMIN). For the server that holds the election and
   * journal rows until the operation's last write, and for a reseed target while the dump loads.
   * On MySQL, read_only goes ON first, so that the server is never writable in between.
   */
  setReadOnlyWatchdogWritable(): string[] {
    return this.hasSuperReadOnly
      ? ['SET GLOBAL read_only = ON', 'SET GLOBAL super_read_only = OFF']
      : ['SET GLOBAL read_only = ON'];
  }

  /**
   * Bounds how long this session's statements wait for a metadata lock: `SET GLOBAL read_only` and
   * `FLUSH TABLES WITH READ LOCK` wait for every open transaction's locks, for `lock_wait_timeout`
   * (default a year) — one long statement would stall a fence or a dump indefinitely. A wait cut
   * short fails with ER_LOCK_WAIT_TIMEOUT (1205). The same variable on MariaDB and MySQL.
   */
  boundLockWait(seconds: number): Statement {
    return { sql: 'SET SESSION lock_wait_timeout = ?', values: [Math.max(1, Math.round(seconds))] };
  }

  /** Reads back what setReadOnly changed (every state change is checked). */
  readOnlyQuery(): string {
    return this.hasSuperReadOnly
      ? 'SELECT @@global.read_only AS read_only, @@global.super_read_only AS super_read_only'
      : 'SELECT @@global.read_only AS read_only, NULL AS super_read_only';
  }

  // ------------------------------------------------------------ accounts

  /** The account tables of this flavor (see ACCOUNT_TABLES). */
  accountTables(): readonly string[] {
    return ACCOUNT_TABLES[this.name];
  }

  /** The installation's own accounts, never copied over (see LOCAL_ACCOUNTS). */
  localAccounts(): readonly (readonly [string, string])[] {
    return LOCAL_ACCOUNTS[this.name];
  }

  // ------------------------------------------------------------ GTIDs

  /** The variable holding what this server has executed (for set comparisons between servers). */
  executedGtidVariable(): string {
    return this.isMariadb ? 'gtid_binlog_pos' : 'gtid_executed';
  }

  /**
   * MySQL: gtid_executed and gtid_purged read whole. Through SHOW GLOBAL VARIABLES (performance_schema's
   * VARCHAR(1024)) a long set is cut at 1,024 characters, and a cut set can still parse
   * (`uuid:1-12345` -> `uuid:1-12`): false errant or missing transactions. null on MariaDB, whose
   * positions are one short entry per domain.
   */
  /**
   * Every GTID variable observation compares, read whole under its own name: the second read of a
   * server another one looked ahead of (cluster/observe.ts).
   */
  gtidVariablesQuery(): string {
    return (
      this.gtidSetsQuery() ??
      'SELECT @@GLOBAL.gtid_binlog_pos AS gtid_binlog_pos, @@GLOBAL.gtid_binlog_state AS gtid_binlog_state, @@GLOBAL.gtid_current_pos AS gtid_current_pos, @@GLOBAL.gtid_slave_pos AS gtid_slave_pos'
    );
  }

  gtidSetsQuery(): string | null {
    return this.isMariadb
      ? null
      : 'SELECT @@GLOBAL.gtid_executed AS gtid_executed, @@GLOBAL.gtid_purged AS gtid_purged';
  }

  gtidQuery(): string {
    return this.isMariadb
      ? 'SELECT @@global.gtid_binlog_pos AS binlog_pos, @@global.gtid_current_pos AS current_pos, @@global.gtid_slave_pos AS slave_pos, @@global.gtid_binlog_state AS binlog_state'
      : 'SELECT @@global.gtid_executed AS executed, @@global.gtid_purged AS purged';
  }

  /**
   * After restoring a dump taken at `gtid`, make the server's GTID state say it has exactly that,
   * so auto-positioning asks the source for what follows. The server's own binary log is discarded
   * first (its transactions were saved before the reseed, safety rule 3). Replication must be stopped.
   * - MariaDB: RESET MASTER, then the source's whole gtid_binlog_state when known (the last seq of
   *   every domain-server pair, so a later comparison of binlog states sees everything the restored
   *   data contains, not only the newest GTID; it can only be set while the binlog is empty), then
   *   gtid_slave_pos (with gtid_strict_mode a binlog holding a later seq would make the SET fail).
   * - MySQL: gtid_purged can only be set while gtid_executed is empty: RESET MASTER, or 8.2+'s
   *   RESET BINARY LOGS AND GTIDS (the only name on 8.4).
   */
  setGtidPositionAfterRestore(gtid: string, binlogState?: string): Statement[] {
    if (this.isMariadb) {
      return [
        { sql: 'RESET MASTER' },
        ...(binlogState ? [{ sql: 'SET GLOBAL gtid_binlog_state = ?', values: [binlogState] }] : []),
        { sql: 'SET GLOBAL gtid_slave_pos = ?', values: [gtid] },
      ];
    }
    return [
      { sql: this.usesBinaryLogTerms ? 'RESET BINARY LOGS AND GTIDS' : 'RESET MASTER' },
      { sql: 'SET GLOBAL gtid_purged = ?', values: [gtid] },
    ];
  }

  /** MySQL 8.0.17+: the clone plugin copies a whole server physically (CLONE INSTANCE FROM). */
  get supportsClone(): boolean {
    return !this.isMariadb && atLeast(this.version, 8, 0, 17);
  }

  /**
   * Rebuilds this server (the recipient) as a physical copy of the donor with the clone plugin. The
   * plugin must be loaded on both (`plugin-load-add=mysql_clone.so`); the donor account needs
   * BACKUP_ADMIN there, the account running this CLONE_ADMIN here. The donor must be listed in
   * clone_valid_donor_list first. CLONE replaces every schema, then restarts the recipient (under
   * systemd or mysqld_safe; otherwise it stops with error 3707 and must be started); the copy keeps
   * the donor's gtid_executed, so auto-positioning continues after it without setting a position.
   * That restart reads the server's own configuration, which may say read_only=OFF: read_only=ON is
   * persisted first (mysqld-auto.cnf in the datadir, kept by the clone), so the copy comes back
   * read-only; cloneFinishedStatements() removes the persisted value once it is back. CLONE refuses a
   * recipient with super_read_only=ON (error 1290, seen on 9.7), as the watchdog leaves its replicas:
   * it is lowered to plain read_only first. The copy also brings the donor's replication metadata
   * tables, and a server starts the replication they describe when it starts (seen on 9.7):
   * skip_replica_start is persisted too (8.0.24+; earlier versions have no such variable to persist),
   * and StartReplication points the server at its source.
   * Progress: performance_schema.clone_status and clone_progress on the recipient.
   */
  cloneStatements(donor: { host: string; port: number; user: string; password: string }): Statement[] {
    if (!this.supportsClone)
      throw new Error(`CLONE needs MySQL 8.0.17 or later (this is ${this.versionString})`);
    const address = donor.host.includes(':') ? `[${donor.host}]` : donor.host;
    return [
      { sql: 'SET PERSIST read_only = ON' },
      ...this.skipReplicaStartVariable.map((v) => ({ sql: `SET PERSIST_ONLY ${v} = ON` })),
      { sql: 'SET GLOBAL super_read_only = OFF' },
      { sql: 'SET GLOBAL clone_valid_donor_list = ?', values: [`${address}:${donor.port}`] },
      {
        sql: 'CLONE INSTANCE FROM ?@?:? IDENTIFIED BY ?',
        values: [donor.user, donor.host, donor.port, donor.password],
      },
    ];
  }

  /** After the recipient came back from CLONE: its configuration decides read_only again (now ON). */
  cloneFinishedStatements(): Statement[] {
    return ['read_only', ...this.skipReplicaStartVariable].map((v) => ({
      sql: `RESET PERSIST IF EXISTS ${v}`,
    }));
  }

  /** The read-only variable behind --skip-replica-start (a system variable from 8.0.24), if any. */
  private get skipReplicaStartVariable(): string[] {
    if (atLeast(this.version, 8, 0, 26)) return ['skip_replica_start'];
    return atLeast(this.version, 8, 0, 24) ? ['skip_slave_start'] : [];
  }

  /** The recipient's view of the last clone (state, error, and the stage being copied with its bytes). */
  cloneStatusQuery(): string {
    return `SELECT s.STATE AS state, s.ERROR_NO AS errno, s.ERROR_MESSAGE AS error, s.GTID_EXECUTED AS gtid,
              s.BEGIN_TIME >= ? AS current, p.STAGE AS stage, p.DATA AS bytes, p.ESTIMATE AS estimate,
              TIMESTAMPDIFF(MICROSECOND, p.BEGIN_TIME, NOW(6)) AS stage_us
         FROM performance_schema.clone_status s
         LEFT JOIN performance_schema.clone_progress p ON p.STATE = 'In Progress'`;
  }

  /** Coordination writes that must not replicate (the same on every flavor; needs a privileged user). */
  disableBinlogForSession(): string {
    return 'SET SESSION sql_log_bin = 0';
  }

  enableBinlogForSession(): string {
    return 'SET SESSION sql_log_bin = 1';
  }

  /**
   * Waits until this server has applied `gtid` or `timeoutSeconds` passed. The result column is
   * `result`; read it with `gtidWaitSucceeded`.
   * - MariaDB: MASTER_GTID_WAIT(pos, timeout) -> 0 reached, -1 timeout.
   * - MySQL 5.7.5+: WAIT_FOR_EXECUTED_GTID_SET(set, timeout) -> 0 reached, 1 timeout (works whether or
   *   not the applier runs; WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS is removed in 8.4).
   */
  waitForGtid(gtid: string, timeoutSeconds: number): Statement {
    return this.isMariadb
      ? { sql: 'SELECT MASTER_GTID_WAIT(?, ?) AS result', values: [gtid, timeoutSeconds] }
      : { sql: 'SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?) AS result', values: [gtid, timeoutSeconds] };
  }

  /**
   * Replays a stopped replica exactly up to `gtid` and stops it there (a checksum at a known position).
   * The IO thread fetches on, the applier stops after the set:
   * - MariaDB: START SLAVE UNTIL master_gtid_pos = pos.
   * - MySQL 5.7+: START REPLICA IO_THREAD, then START REPLICA SQL_THREAD UNTIL SQL_AFTER_GTIDS = set
   *   (a plain START REPLICA with a later WAIT_FOR_EXECUTED_GTID_SET lets it run past the position).
   */
  startReplicaUntil(gtid: string): Statement[] {
    if (this.isMariadb) return [{ sql: 'START SLAVE UNTIL master_gtid_pos = ?', values: [gtid] }];
    const start = this.usesReplicaTerms ? 'START REPLICA' : 'START SLAVE';
    return [
      { sql: `${start} IO_THREAD` },
      { sql: `${start} SQL_THREAD UNTIL SQL_AFTER_GTIDS = ?`, values: [gtid.replace(/\s+/g, '')] },
    ];
  }

  gtidWaitSucceeded(result: unknown): boolean {
    return result !== null && result !== undefined && Number(result) === 0;
  }

  // ------------------------------------------------------------ replica status normalisation

  /** The replica status rows of the default channel / connection, normalised; null when not a replica. */
  normalizeReplicaStatus(
    rows: ReadonlyArray<Record<string, unknown>>,
    slavePos: string | null = null,
  ): ReplicationStatus | null {
    const row = rows.find((r) => str(r.Channel_Name ?? r.Connection_name ?? '') === '') ?? rows[0];
    if (!row) return null;
    const f = this.name;
    // Column names follow the statement, not only the server: 8.0.22+ renamed them in SHOW REPLICA
    // STATUS, MariaDB's SHOW REPLICA STATUS keeps the old ones. Read whichever is present.
    const pick = (modern: string, old: string): unknown => (modern in row ? row[modern] : row[old]);
    const sourceHost = str(pick('Source_Host', 'Master_Host'));
    if (sourceHost === '' && str(pick('Replica_IO_Running', 'Slave_IO_Running')) === '') return null;
    const autoPosition = row.Auto_Position;
    let retrieved: GtidValue;
    let executed: GtidValue;
    let usingGtid: string;
    if (f === 'mariadb') {
      retrieved = gtidValue(nullableStr(row.Gtid_IO_Pos), f);
      executed = gtidValue(slavePos, f);
      usingGtid = str(row.Using_Gtid) || 'No';
    } else {
      retrieved = gtidValue(nullableStr(row.Retrieved_Gtid_Set), f);
      executed = gtidValue(nullableStr(row.Executed_Gtid_Set), f);
      usingGtid = Number(autoPosition) === 1 ? 'auto-position' : 'No';
    }
    return {
      sourceHost,
      sourcePort: num(pick('Source_Port', 'Master_Port')) ?? 0,
      sourceServerId: num(pick('Source_Server_Id', 'Master_Server_Id')),
      sourceUuid: nullableStr(pick('Source_UUID', 'Master_UUID')) || null,
      ioRunning: str(pick('Replica_IO_Running', 'Slave_IO_Running')),
      sqlRunning: str(pick('Replica_SQL_Running', 'Slave_SQL_Running')),
      ioState: str(pick('Replica_IO_State', 'Slave_IO_State')),
      sqlState: str(pick('Replica_SQL_Running_State', 'Slave_SQL_Running_State')),
      lastIoErrno: num(row.Last_IO_Errno) ?? 0,
      lastIoError: str(row.Last_IO_Error),
      lastSqlErrno: num(row.Last_SQL_Errno) ?? 0,
      lastSqlError: str(row.Last_SQL_Error),
      secondsBehind: num(pick('Seconds_Behind_Source', 'Seconds_Behind_Master')),
      retrievedGtid: retrieved,
      executedGtid: executed,
      usingGtid,
      channel: str(row.Channel_Name ?? row.Connection_name ?? ''),
      // Only a delayed replica carries it (promotion policy excludes it), so other snapshots keep their form.
      ...((num(row.SQL_Delay) ?? 0) > 0 ? { sqlDelay: num(row.SQL_Delay)! } : {}),
    };
  }
}

function str(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return String(v);
}

function nullableStr(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  return str(v);
}

function num(v: unknown): number | null {
  if (v === null || v === undefined || v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

/** Expands a statement's placeholders (for logs and for tests; mysql2 escapes the values). */
export function inlineStatement(s: Statement): string {
  return s.values && s.values.length > 0 ? format(s.sql, s.values as Parameters<typeof format>[1]) : s.sql;
}
