/**
 * The privileges the watchdog and the replication user need, per flavor, with the statement that needs
 * each one. This list is the single source: the README documents it, the local harness creates its
 * users from it, and the integration tests run every statement as a user holding exactly these grants.
 *
 * MariaDB 10.5+ split SUPER into finer privileges; SUPER no longer implies them (10.11 refuses
 * `SET GLOBAL read_only` or `SHOW SLAVE STATUS` to a user that holds only SUPER and the old
 * REPLICATION CLIENT), so we grant the fine-grained ones and never SUPER or ALL.
 *
 * To add a privilege: add one entry with the statement that needs it, then run the harness tests.
 */

import { ACCOUNT_TABLES } from './flavor.js';

/** 'mysql' is MySQL 8.0 and later (8.4, 9.x); 'mysql57' is MySQL 5.7. */
export type GrantFlavor = 'mariadb' | 'mysql' | 'mysql57';

/** The grant list that fits a server: MariaDB, MySQL 5.7, or MySQL 8.0+. */
export function grantFlavorOf(name: 'mariadb' | 'mysql', version: { major: number }): GrantFlavor {
  if (name === 'mariadb') return 'mariadb';
  return version.major < 8 ? 'mysql57' : 'mysql';
}

/**
 * Where a privilege is granted. Administrative and read privileges are global. Privileges that write
 * data or DDL are granted per schema (ongoing_failover and the application schemas the watchdog may
 * restore), never on *.*: a global INSERT/UPDATE/DELETE/DROP/ALTER also covers the `mysql` schema, and
 * with it CREATE USER (MariaDB allows it to holders of INSERT on `mysql`) or editing the grant tables —
 * an account that can do that holds every privilege.
 *
 * `accounts`: on each of the flavor's account tables (`mysql.global_priv`, `mysql.db`, ... —
 * ACCOUNT_TABLES in flavor.ts) and nothing else of `mysql`. A reseed copies the source's accounts
 * into the rebuilt server (otherwise an account created or a password rotated on the primary is
 * missing there, and the application cannot log in after the next failover to it). Writing those
 * tables is as strong as CREATE USER: it is granted for that one purpose, and documented as such.
 */
export type GrantScope = 'global' | 'schema' | 'accounts';

export interface PrivilegeNeed {
  /** The privilege as written in GRANT. */
  readonly privilege: string;
  readonly scope: GrantScope;
  /** Which statements the watchdog runs that need it (the reason it is granted). */
  readonly neededFor: string;
}

/**
 * MariaDB 10.5+ (verified against real 10.11 servers: the harness tests run each statement as this
 * account, and check that the statement is refused when its privilege is missing).
 *
 * Deliberately NOT granted: SUPER and ALL; SET USER (it lets an account create a routine or view with
 * DEFINER=root that then runs as root, so restored objects get the watchdog as definer instead);
 * EXECUTE (routines are dumped from mysql.proc with the global SELECT); CREATE USER; REFERENCES
 * (MariaDB does not check it: FOREIGN KEY clauses are accepted without it — verified).
 */
export const MARIADB_WATCHDOG_PRIVILEGES: readonly PrivilegeNeed[] = [
  {
    privilege: 'SELECT',
    scope: 'global',
    neededFor: 'dumps (SELECT of every table); reading replication state tables',
  },
  { privilege: 'SHOW VIEW', scope: 'global', neededFor: 'SHOW CREATE VIEW when dumping views' },
  {
    privilege: 'TRIGGER',
    scope: 'global',
    neededFor: 'SHOW CREATE TRIGGER when dumping; CREATE TRIGGER when restoring',
  },
  {
    privilege: 'EVENT',
    scope: 'global',
    neededFor: 'SHOW CREATE EVENT when dumping; CREATE EVENT when restoring',
  },
  {
    privilege: 'LOCK TABLES',
    scope: 'global',
    neededFor: 'LOCK TABLES ... READ for a consistent dump of non-InnoDB tables',
  },
  {
    privilege: 'RELOAD',
    scope: 'global',
    neededFor: 'FLUSH TABLES WITH READ LOCK (consistent dump position); FLUSH LOGS; RESET MASTER on reseed',
  },
  {
    privilege: 'PROCESS',
    scope: 'global',
    neededFor: 'SHOW PROCESSLIST of all users; SHOW ENGINE INNODB STATUS',
  },
  {
    privilege: 'CONNECTION ADMIN',
    scope: 'global',
    neededFor: "KILL of other users' sessions when fencing the old primary",
  },
  // Also lets the holder write while read_only=ON (in 10.11 SUPER no longer does): the watchdog can
  // still record election signals on a fenced server. Application accounts must not hold it.
  {
    privilege: 'READ_ONLY ADMIN',
    scope: 'global',
    neededFor: 'SET GLOBAL read_only=ON|OFF (fencing and promotion)',
  },
  {
    privilege: 'REPLICATION SLAVE ADMIN',
    scope: 'global',
    neededFor:
      "STOP/START SLAVE, CHANGE MASTER TO, RESET SLAVE, SET GLOBAL gtid_slave_pos; SET GLOBAL slave_exec_mode (a resumed dump's catch-up); SET GLOBAL rpl_semi_sync_slave_enabled (semiSync)",
  },
  { privilege: 'SLAVE MONITOR', scope: 'global', neededFor: 'SHOW SLAVE STATUS / SHOW ALL SLAVES STATUS' },
  {
    privilege: 'BINLOG MONITOR',
    scope: 'global',
    neededFor: 'SHOW MASTER STATUS, SHOW BINARY LOGS, SHOW BINLOG EVENTS',
  },
  {
    privilege: 'REPLICATION MASTER ADMIN',
    scope: 'global',
    neededFor:
      'SHOW SLAVE HOSTS (which replicas are attached); SET GLOBAL rpl_semi_sync_master_enabled (semiSync)',
  },
  {
    privilege: 'BINLOG ADMIN',
    scope: 'global',
    neededFor: 'SET SESSION sql_log_bin=0 (election writes stay out of replication); PURGE BINARY LOGS',
  },
  {
    privilege: 'CREATE',
    scope: 'schema',
    neededFor: 'CREATE DATABASE/TABLE for restores and the ongoing_failover schema',
  },
  {
    privilege: 'DROP',
    scope: 'schema',
    neededFor: 'DROP DATABASE/TABLE before a restore; dropping ongoing_failover',
  },
  {
    privilege: 'INSERT',
    scope: 'schema',
    neededFor: 'restores; election signals in ongoing_failover.status',
  },
  {
    privilege: 'UPDATE',
    scope: 'schema',
    neededFor: 'election lease renewal and takeover (conditional UPDATE)',
  },
  { privilege: 'DELETE', scope: 'schema', neededFor: 'removing finished election rows' },
  {
    privilege: 'ALTER',
    scope: 'schema',
    neededFor: 'ALTER TABLE in restored schemas (keys disabled/enabled around loads)',
  },
  { privilege: 'INDEX', scope: 'schema', neededFor: 'CREATE INDEX in restored schemas' },
  { privilege: 'CREATE VIEW', scope: 'schema', neededFor: 'restoring views' },
  { privilege: 'CREATE ROUTINE', scope: 'schema', neededFor: 'restoring stored procedures and functions' },
  {
    privilege: 'ALTER ROUTINE',
    scope: 'schema',
    neededFor: 'DROP PROCEDURE/FUNCTION before restoring routines',
  },
  {
    privilege: 'INSERT, DELETE',
    scope: 'accounts',
    neededFor:
      "reseed and recover: the source's accounts and grants copied into the rebuilt server (then FLUSH PRIVILEGES)",
  },
];

/** The schema-level privileges every MySQL version needs (writes never on *.*). */
const MYSQL_SCHEMA_PRIVILEGES: readonly PrivilegeNeed[] = [
  {
    privilege: 'CREATE',
    scope: 'schema',
    neededFor: 'CREATE DATABASE/TABLE for restores and ongoing_failover',
  },
  { privilege: 'DROP', scope: 'schema', neededFor: 'DROP DATABASE/TABLE before a restore' },
  { privilege: 'INSERT', scope: 'schema', neededFor: 'restores; election signals' },
  { privilege: 'UPDATE', scope: 'schema', neededFor: 'election lease renewal and takeover' },
  { privilege: 'DELETE', scope: 'schema', neededFor: 'removing finished election rows' },
  { privilege: 'ALTER', scope: 'schema', neededFor: 'ALTER TABLE in restored schemas' },
  { privilege: 'INDEX', scope: 'schema', neededFor: 'CREATE INDEX in restored schemas' },
  { privilege: 'CREATE VIEW', scope: 'schema', neededFor: 'restoring views' },
  { privilege: 'CREATE ROUTINE', scope: 'schema', neededFor: 'restoring stored procedures and functions' },
  {
    privilege: 'ALTER ROUTINE',
    scope: 'schema',
    neededFor: 'DROP PROCEDURE/FUNCTION before restoring routines',
  },
];

/** Global privileges MySQL 5.7 and 8.0+ share. */
const MYSQL_COMMON_GLOBAL: readonly PrivilegeNeed[] = [
  { privilege: 'SELECT', scope: 'global', neededFor: 'dumps; reading replication state tables' },
  { privilege: 'SHOW VIEW', scope: 'global', neededFor: 'SHOW CREATE VIEW when dumping' },
  { privilege: 'TRIGGER', scope: 'global', neededFor: 'dumping and restoring triggers' },
  { privilege: 'EVENT', scope: 'global', neededFor: 'dumping and restoring events' },
  {
    privilege: 'LOCK TABLES',
    scope: 'global',
    neededFor: 'LOCK TABLES ... READ for non-InnoDB tables in a dump',
  },
  {
    privilege: 'RELOAD',
    scope: 'global',
    neededFor:
      'FLUSH TABLES WITH READ LOCK; FLUSH BINARY LOGS; RESET REPLICA ALL; RESET MASTER / RESET BINARY LOGS AND GTIDS on reseed',
  },
  { privilege: 'PROCESS', scope: 'global', neededFor: 'SHOW PROCESSLIST of all users' },
  {
    privilege: 'REPLICATION CLIENT',
    scope: 'global',
    neededFor: 'SHOW REPLICA STATUS, SHOW BINARY LOG STATUS (SHOW MASTER STATUS), SHOW BINARY LOGS',
  },
  {
    privilege: 'REPLICATION SLAVE',
    scope: 'global',
    neededFor: "SHOW BINLOG EVENTS (salvage lists the old primary's missing transactions)",
  },
];

/**
 * MySQL 8.0 / 8.4 / 9.x: dynamic privileges instead of SUPER. Verified on a real MySQL 9.7 (the
 * integration tests run every operation as this account); 8.0 and 8.4 at statement level.
 */
export const MYSQL8_WATCHDOG_PRIVILEGES: readonly PrivilegeNeed[] = [
  ...MYSQL_COMMON_GLOBAL,
  {
    privilege: 'REPLICATION_SLAVE_ADMIN',
    scope: 'global',
    neededFor: 'STOP/START REPLICA, CHANGE REPLICATION SOURCE TO',
  },
  {
    privilege: 'SYSTEM_VARIABLES_ADMIN',
    scope: 'global',
    neededFor:
      "SET GLOBAL read_only / super_read_only / lock_wait_timeout; SET GLOBAL gtid_purged on reseed; SET GLOBAL replica_exec_mode (a resumed dump's catch-up)",
  },
  {
    privilege: 'SESSION_VARIABLES_ADMIN',
    scope: 'global',
    neededFor: 'SET SESSION sql_log_bin=0 for election writes',
  },
  {
    privilege: 'CONNECTION_ADMIN',
    scope: 'global',
    neededFor:
      "KILL of other users' sessions when fencing; writing election rows and reseeds through read_only (not super_read_only)",
  },
  { privilege: 'BINLOG_ADMIN', scope: 'global', neededFor: 'PURGE BINARY LOGS' },
  {
    privilege: 'BACKUP_ADMIN',
    scope: 'global',
    neededFor:
      'a physical reseed (8.0.17+): the donor side of CLONE INSTANCE (the recipient logs in with this account)',
  },
  {
    privilege: 'CLONE_ADMIN',
    scope: 'global',
    neededFor:
      'a physical reseed (8.0.17+): CLONE INSTANCE FROM on the server rebuilt (it replaces all its data)',
  },
  {
    privilege: 'PERSIST_RO_VARIABLES_ADMIN',
    scope: 'global',
    neededFor:
      'a physical reseed: SET PERSIST_ONLY skip_replica_start on the server rebuilt, for its restart after CLONE only (RESET PERSIST after)',
  },
  ...MYSQL_SCHEMA_PRIVILEGES.slice(0, 7),
  {
    privilege: 'REFERENCES',
    scope: 'schema',
    neededFor: 'restoring tables with FOREIGN KEY constraints (8.0.22+)',
  },
  ...MYSQL_SCHEMA_PRIVILEGES.slice(7),
  {
    privilege: 'INSERT, DELETE',
    scope: 'accounts',
    neededFor:
      "reseed and recover: the source's accounts and grants copied into the rebuilt server (then FLUSH PRIVILEGES)",
  },
];

/**
 * MySQL 5.7 (statement level): no dynamic privileges, so SUPER is the only way to SET GLOBAL
 * read_only, CHANGE MASTER TO, START/STOP SLAVE, KILL other users' sessions and write through
 * read_only. The only version the watchdog is granted SUPER on.
 */
export const MYSQL57_WATCHDOG_PRIVILEGES: readonly PrivilegeNeed[] = [
  ...MYSQL_COMMON_GLOBAL,
  {
    privilege: 'SUPER',
    scope: 'global',
    neededFor:
      "SET GLOBAL read_only / super_read_only / gtid_purged; CHANGE MASTER TO, START/STOP SLAVE; KILL of other users' sessions; SET SESSION sql_log_bin",
  },
  ...MYSQL_SCHEMA_PRIVILEGES,
  {
    privilege: 'INSERT, DELETE',
    scope: 'accounts',
    neededFor:
      "reseed and recover: the source's accounts and grants copied into the rebuilt server (then FLUSH PRIVILEGES)",
  },
];

/** The replication user needs only to read the binary log stream. */
export const REPLICATION_PRIVILEGES: Readonly<Record<GrantFlavor, readonly PrivilegeNeed[]>> = {
  mariadb: [
    { privilege: 'REPLICATION SLAVE', scope: 'global', neededFor: 'the replica IO thread (COM_BINLOG_DUMP)' },
  ],
  mysql: [
    { privilege: 'REPLICATION SLAVE', scope: 'global', neededFor: 'the replica IO thread (COM_BINLOG_DUMP)' },
  ],
  mysql57: [
    { privilege: 'REPLICATION SLAVE', scope: 'global', neededFor: 'the replica IO thread (COM_BINLOG_DUMP)' },
  ],
};

export const WATCHDOG_PRIVILEGES: Readonly<Record<GrantFlavor, readonly PrivilegeNeed[]>> = {
  mariadb: MARIADB_WATCHDOG_PRIVILEGES,
  mysql: MYSQL8_WATCHDOG_PRIVILEGES,
  mysql57: MYSQL57_WATCHDOG_PRIVILEGES,
};

export interface Account {
  readonly user: string;
  /** Host part of the account, e.g. '%' or '10.0.%'. */
  readonly host: string;
  readonly password: string;
}

/** Quotes a string literal for SQL (single quotes, backslash-escaped); account names are not user input. */
export function sqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function accountName(account: Pick<Account, 'user' | 'host'>): string {
  return `${sqlString(account.user)}@${sqlString(account.host)}`;
}

/** True if a GRANT schema pattern (LIKE syntax: % _ and backslash escapes) matches `name`. */
export function likeMatches(pattern: string, name: string): boolean {
  let regex = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    if (char === '\\' && i + 1 < pattern.length) {
      regex += pattern[++i]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    } else if (char === '%') regex += '.*';
    else if (char === '_') regex += '.';
    else regex += char.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${regex}$`, 'i').test(name);
}

/** The schema the election protocol writes to; always among the watchdog's writable schemas. */
export const ELECTION_SCHEMA = 'ongoing_failover';

/** Quotes a schema name or LIKE pattern (e.g. app\\_%) as an identifier for GRANT ... ON `x`.*. */
function schemaIdentifier(schema: string): string {
  return `\`${schema.replace(/`/g, '``')}\``;
}

function createUserStatement(flavor: GrantFlavor, account: Account): string {
  // MySQL 8.0+ default (and 9.x only) plugin is caching_sha2_password; 5.7 has no such plugin.
  const identified =
    flavor === 'mysql'
      ? `IDENTIFIED WITH caching_sha2_password BY ${sqlString(account.password)}`
      : flavor === 'mysql57'
        ? `IDENTIFIED WITH mysql_native_password BY ${sqlString(account.password)}`
        : `IDENTIFIED BY ${sqlString(account.password)}`;
  return `CREATE USER IF NOT EXISTS ${accountName(account)} ${identified}`;
}

/** CREATE USER + GRANTs for an explicit privilege list (tests use it to drop one privilege at a time). */
/** MySQL 5.7 has the 8.0 account tables except those roles, dynamic privileges and password history added. */
function accountTablesOf(flavor: GrantFlavor): readonly string[] {
  if (flavor !== 'mysql57') return ACCOUNT_TABLES[flavor];
  return ACCOUNT_TABLES.mysql.filter(
    (t) => !['global_grants', 'role_edges', 'default_roles', 'password_history'].includes(t),
  );
}

export function grantStatementsFor(
  flavor: GrantFlavor,
  account: Account,
  privileges: readonly PrivilegeNeed[],
  schemas: readonly string[],
): string[] {
  const global = privileges.filter((p) => p.scope === 'global').map((p) => p.privilege);
  const perSchema = privileges.filter((p) => p.scope === 'schema').map((p) => p.privilege);
  const onAccounts = privileges.filter((p) => p.scope === 'accounts').map((p) => p.privilege);
  const statements = [createUserStatement(flavor, account)];
  if (global.length > 0) statements.push(`GRANT ${global.join(', ')} ON *.* TO ${accountName(account)}`);
  if (perSchema.length > 0) {
    for (const schema of schemas) {
      statements.push(
        `GRANT ${perSchema.join(', ')} ON ${schemaIdentifier(schema)}.* TO ${accountName(account)}`,
      );
    }
  }
  if (onAccounts.length > 0) {
    for (const table of accountTablesOf(flavor))
      statements.push(`GRANT ${onAccounts.join(', ')} ON \`mysql\`.\`${table}\` TO ${accountName(account)}`);
  }
  return statements;
}

/**
 * CREATE USER + GRANTs for the watchdog account. `schemas` are the application schemas (names or LIKE
 * patterns such as `app\\_%`) the watchdog may restore into; the election schema is always added.
 * Never pass `%`: it matches the `mysql` schema too.
 */
export function watchdogGrantStatements(
  flavor: GrantFlavor,
  account: Account,
  schemas: readonly string[] = [],
): string[] {
  const dangerous = schemas.filter((schema) => likeMatches(schema, 'mysql'));
  if (dangerous.length > 0) {
    throw new Error(`watchdog write grants must not cover the mysql schema: ${dangerous.join(', ')}`);
  }
  const all = [ELECTION_SCHEMA, ...schemas.filter((schema) => schema !== ELECTION_SCHEMA)];
  return grantStatementsFor(flavor, account, WATCHDOG_PRIVILEGES[flavor], all);
}

/** CREATE USER + GRANT for the replication account. */
export function replicationGrantStatements(flavor: GrantFlavor, account: Account): string[] {
  return grantStatementsFor(flavor, account, REPLICATION_PRIVILEGES[flavor], []);
}

/**
 * The account HAProxy's `option mysql-check user haproxy_check post-41` logs in with: no password and
 * no privileges (USAGE only), from the router host only. A check that completes the handshake keeps
 * the server from counting aborted connects against the router's address (max_connect_errors).
 */
export function haproxyCheckUserStatements(host = '127.0.0.1', user = 'haproxy_check'): string[] {
  return [`CREATE USER IF NOT EXISTS ${accountName({ user, host })}`];
}
