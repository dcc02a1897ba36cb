/**
 * Where the harness finds MySQL 9.7 (server, client, Router): the private prefix scripts/setup-mysql.sh
 * unpacks from Debian unstable's packages. Those binaries need a newer libc than the system's, so every
 * one of them is started through the prefix's own dynamic loader with the prefix's libraries, never the
 * system's.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { ProcessError } from '../../errors.js';

export interface MysqlInstall {
  prefix: string;
  /** "9.7.4" */
  version: string;
}

function cacheDir(): string {
  return process.env.MYSQL_FAILOVER_CACHE ?? join(homedir(), '.cache', 'mysql-failover');
}

/** The unpacked MySQL 9.7, or null when scripts/setup-mysql.sh has not (successfully) run. */
export function findMysqlInstall(): MysqlInstall | null {
  const prefix = join(cacheDir(), 'mysql-9.7');
  const marker = join(prefix, '.complete');
  if (!existsSync(marker)) return null;
  return { prefix, version: readFileSync(marker, 'utf8').trim() };
}

/** Why the MySQL tests cannot run here, or null when they can. */
export function mysqlUnavailableReason(): string | null {
  return findMysqlInstall()
    ? null
    : `MySQL 9.7 is not set up in ${join(cacheDir(), 'mysql-9.7')}: run \`bash scripts/setup-mysql.sh\``;
}

export function requireMysqlInstall(): MysqlInstall {
  const install = findMysqlInstall();
  if (!install) throw new ProcessError(mysqlUnavailableReason() ?? 'MySQL 9.7 is not set up');
  return install;
}

/**
 * The command line that runs one of the prefix's programs (`usr/sbin/mysqld`, `usr/bin/mysqlrouter`, ...)
 * through the prefix's loader.
 */
export function mysqlCommand(install: MysqlInstall, program: string, args: readonly string[]): string[] {
  const p = install.prefix;
  const libraryPath = [
    join(p, 'usr/lib/x86_64-linux-gnu'),
    join(p, 'usr/lib/mysql-router'),
    join(p, 'usr/lib/mysqlrouter/private'),
  ].join(':');
  return [
    join(p, 'usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'),
    '--library-path',
    libraryPath,
    join(p, program),
    ...args,
  ];
}

/**
 * A `mysqlbinlog` that runs MySQL 9.7's own through the prefix's loader (salvage reads a MySQL server's
 * binary log with it; Debian's /usr/bin/mysqlbinlog is MariaDB's and cannot). Written once into the
 * prefix's bin/ folder; the path is what MYSQL_FAILOVER_MYSQLBINLOG names for the watchdog.
 */
export function mysqlbinlogWrapper(install: MysqlInstall): string {
  const path = join(install.prefix, 'bin', 'mysqlbinlog');
  const quoted = mysqlCommand(install, 'usr/bin/mysqlbinlog', [])
    .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
    .join(' ');
  const script = `#!/bin/sh\n# MySQL ${install.version}'s mysqlbinlog through the prefix's own loader (written by the mysql-failover harness).\nexec ${quoted} "$@"\n`;
  if (!existsSync(path) || readFileSync(path, 'utf8') !== script) {
    mkdirSync(dirname(path), { recursive: true });
    // Written beside and renamed: a concurrent reader never sees half a script.
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, script, { mode: 0o755 });
    renameSync(tmp, path);
  }
  return path;
}
