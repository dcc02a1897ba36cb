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

export type GrantFlavor = 'mariadb' | 'mysql';

export interface PrivilegeNeed {
  /** The privilege as written in GRANT. */
  readonly privilege: string;
  /** Which statements the watchdog runs that need it (the reason it is granted). */
  readonly neededFor: string;
}

/** MariaDB 10.5+ (tested against real 10.11 servers). */
export const MARIADB_WATCHDOG_PRIVILEGES: readonly PrivilegeNeed[] = [
  { privilege: 'SELECT', neededFor: 'dumps (SELECT of every table); reading ongoing_failover.status' },
  { privilege: 'INSERT', neededFor: 'restores; election signals in ongoing_failover.status' },
  { privilege: 'UPDATE', neededFor: 'election lease renewal and takeover (conditional UPDATE)' },
  { privilege: 'DELETE', neededFor: 'removing finished election rows' },
  { privilege: 'CREATE', neededFor: 'CREATE DATABASE/TABLE for restores and the ongoing_failover schema' },
  { privilege: 'DROP', neededFor: 'DROP DATABASE/TABLE before a restore; dropping ongoing_failover' },
  { privilege: 'ALTER', neededFor: 'ALTER TABLE in restored schemas (keys disabled/enabled around loads)' },
  { privilege: 'INDEX', neededFor: 'CREATE INDEX in restored schemas' },
  { privilege: 'REFERENCES', neededFor: 'restoring tables with FOREIGN KEY constraints' },
  { privilege: 'CREATE VIEW', neededFor: 'restoring views' },
  { privilege: 'SHOW VIEW', neededFor: 'SHOW CREATE VIEW when dumping views' },
  { privilege: 'CREATE ROUTINE', neededFor: 'restoring stored procedures and functions' },
  { privilege: 'ALTER ROUTINE', neededFor: 'DROP PROCEDURE/FUNCTION before restoring routines' },
  { privilege: 'EXECUTE', neededFor: 'SHOW CREATE PROCEDURE/FUNCTION of routines owned by others' },
  { privilege: 'EVENT', neededFor: 'SHOW CREATE EVENT when dumping; CREATE EVENT when restoring' },
  { privilege: 'TRIGGER', neededFor: 'SHOW CREATE TRIGGER when dumping; CREATE TRIGGER when restoring' },
  { privilege: 'LOCK TABLES', neededFor: 'LOCK TABLES ... READ for a consistent dump of non-InnoDB tables' },
  {
    privilege: 'RELOAD',
    neededFor: 'FLUSH TABLES WITH READ LOCK (consistent dump position); FLUSH LOGS; RESET MASTER on reseed',
  },
  { privilege: 'PROCESS', neededFor: 'SHOW PROCESSLIST of all users (replication threads, stuck sessions)' },
  { privilege: 'CONNECTION ADMIN', neededFor: "KILL of other users' sessions when fencing the old primary" },
  { privilege: 'READ_ONLY ADMIN', neededFor: 'SET GLOBAL read_only=ON|OFF (fencing and promotion)' },
  {
    privilege: 'REPLICATION SLAVE ADMIN',
    neededFor: 'STOP/START SLAVE, CHANGE MASTER TO, RESET SLAVE, SET GLOBAL gtid_slave_pos',
  },
  { privilege: 'SLAVE MONITOR', neededFor: 'SHOW SLAVE STATUS / SHOW ALL SLAVES STATUS' },
  { privilege: 'BINLOG MONITOR', neededFor: 'SHOW MASTER STATUS, SHOW BINARY LOGS, SHOW BINLOG EVENTS' },
  { privilege: 'REPLICATION MASTER ADMIN', neededFor: 'SHOW SLAVE HOSTS (which replicas are attached)' },
  {
    privilege: 'BINLOG ADMIN',
    neededFor: 'SET SESSION sql_log_bin=0 (election writes stay out of replication); PURGE BINARY LOGS',
  },
  {
    privilege: 'SET USER',
    neededFor: 'restoring views, routines, triggers and events whose DEFINER is another account',
  },
];

/** MySQL 8.0 / 8.4 (statement-level only: MySQL server binaries cannot run on our test machines). */
export const MYSQL8_WATCHDOG_PRIVILEGES: readonly PrivilegeNeed[] = [
  { privilege: 'SELECT', neededFor: 'dumps; reading ongoing_failover.status' },
  { privilege: 'INSERT', neededFor: 'restores; election signals' },
  { privilege: 'UPDATE', neededFor: 'election lease renewal and takeover' },
  { privilege: 'DELETE', neededFor: 'removing finished election rows' },
  { privilege: 'CREATE', neededFor: 'CREATE DATABASE/TABLE for restores and ongoing_failover' },
  { privilege: 'DROP', neededFor: 'DROP DATABASE/TABLE before a restore' },
  { privilege: 'ALTER', neededFor: 'ALTER TABLE in restored schemas' },
  { privilege: 'INDEX', neededFor: 'CREATE INDEX in restored schemas' },
  { privilege: 'REFERENCES', neededFor: 'restoring tables with FOREIGN KEY constraints' },
  { privilege: 'CREATE VIEW', neededFor: 'restoring views' },
  { privilege: 'SHOW VIEW', neededFor: 'SHOW CREATE VIEW when dumping' },
  { privilege: 'CREATE ROUTINE', neededFor: 'restoring stored procedures and functions' },
  { privilege: 'ALTER ROUTINE', neededFor: 'DROP PROCEDURE/FUNCTION before restoring routines' },
  { privilege: 'EXECUTE', neededFor: 'SHOW CREATE PROCEDURE/FUNCTION of routines owned by others' },
  { privilege: 'EVENT', neededFor: 'dumping and restoring events' },
  { privilege: 'TRIGGER', neededFor: 'dumping and restoring triggers' },
  { privilege: 'LOCK TABLES', neededFor: 'LOCK TABLES ... READ for non-InnoDB tables in a dump' },
  {
    privilege: 'RELOAD',
    neededFor: 'FLUSH TABLES WITH READ LOCK; FLUSH BINARY LOGS; RESET MASTER on reseed',
  },
  { privilege: 'PROCESS', neededFor: 'SHOW PROCESSLIST of all users' },
  {
    privilege: 'REPLICATION CLIENT',
    neededFor: 'SHOW REPLICA STATUS, SHOW BINARY LOG STATUS (SHOW MASTER STATUS), SHOW BINARY LOGS',
  },
  {
    privilege: 'REPLICATION_SLAVE_ADMIN',
    neededFor: 'STOP/START REPLICA, CHANGE REPLICATION SOURCE TO, RESET REPLICA',
  },
  {
    privilege: 'SYSTEM_VARIABLES_ADMIN',
    neededFor: 'SET GLOBAL read_only / super_read_only; SET GLOBAL gtid_purged on reseed',
  },
  { privilege: 'SESSION_VARIABLES_ADMIN', neededFor: 'SET SESSION sql_log_bin=0 for election writes' },
  { privilege: 'BACKUP_ADMIN', neededFor: 'LOCK INSTANCE FOR BACKUP during a consistent dump' },
  { privilege: 'CONNECTION_ADMIN', neededFor: "KILL of other users' sessions when fencing" },
  { privilege: 'BINLOG_ADMIN', neededFor: 'PURGE BINARY LOGS' },
  {
    privilege: 'SET_USER_ID',
    neededFor: 'restoring objects whose DEFINER is another account (8.0; 8.2+ calls it SET_ANY_DEFINER)',
  },
];

/** The replication user needs only to read the binary log stream. */
export const REPLICATION_PRIVILEGES: Readonly<Record<GrantFlavor, readonly PrivilegeNeed[]>> = {
  mariadb: [{ privilege: 'REPLICATION SLAVE', neededFor: 'the replica IO thread (COM_BINLOG_DUMP)' }],
  mysql: [{ privilege: 'REPLICATION SLAVE', neededFor: 'the replica IO thread (COM_BINLOG_DUMP)' }],
};

export const WATCHDOG_PRIVILEGES: Readonly<Record<GrantFlavor, readonly PrivilegeNeed[]>> = {
  mariadb: MARIADB_WATCHDOG_PRIVILEGES,
  mysql: MYSQL8_WATCHDOG_PRIVILEGES,
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

function grantStatements(
  flavor: GrantFlavor,
  account: Account,
  privileges: readonly PrivilegeNeed[],
): string[] {
  const list = privileges.map((p) => p.privilege).join(', ');
  const identified =
    flavor === 'mysql'
      ? `IDENTIFIED WITH caching_sha2_password BY ${sqlString(account.password)}`
      : `IDENTIFIED BY ${sqlString(account.password)}`;
  return [
    `CREATE USER IF NOT EXISTS ${accountName(account)} ${identified}`,
    `GRANT ${list} ON *.* TO ${accountName(account)}`,
  ];
}

/** CREATE USER + GRANT for the watchdog account. */
export function watchdogGrantStatements(flavor: GrantFlavor, account: Account): string[] {
  return grantStatements(flavor, account, WATCHDOG_PRIVILEGES[flavor]);
}

/** CREATE USER + GRANT for the replication account. */
export function replicationGrantStatements(flavor: GrantFlavor, account: Account): string[] {
  return grantStatements(flavor, account, REPLICATION_PRIVILEGES[flavor]);
}

/**
 * The account HAProxy's `option mysql-check user haproxy_check post-41` logs in with: no password and
 * no privileges (USAGE only), from the router host only. A check that completes the handshake keeps
 * the server from counting aborted connects against the router's address (max_connect_errors).
 */
export function haproxyCheckUserStatements(host = '127.0.0.1', user = 'haproxy_check'): string[] {
  return [`CREATE USER IF NOT EXISTS ${accountName({ user, host })}`];
}
