/**
 * One local MySQL 9.7 server: a copy of a template datadir (`mysqld --initialize-insecure`, built once
 * per machine), started with an empty option file (not --no-defaults: see launch()) through the private prefix's loader
 * (mysql-install.ts) on a loopback port and a unix socket in the cluster folder. GTID mode on, binary
 * log with replicated events, as the README's MySQL settings say.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ProcessError } from '../../errors.js';
import { MYSQLBINLOG_ENV } from '../../operations/salvage.js';
import { type LaunchSpec, LocalServer, type StartOverrides } from './local-server.js';
import { buildTemplateOnce } from './mariadb.js';
import { type MysqlInstall, mysqlbinlogWrapper, mysqlCommand, requireMysqlInstall } from './mysql-install.js';

const execFileAsync = promisify(execFile);

/** Small InnoDB sizes: a test server starts in about a second; the template must match them. */
const INNODB_ARGS = ['--innodb-buffer-pool-size=64M', '--innodb-redo-log-capacity=64M'];

function baseArgs(install: MysqlInstall): string[] {
  const p = install.prefix;
  return [
    '--no-defaults',
    '--user=root',
    `--basedir=${join(p, 'usr')}`,
    `--lc-messages-dir=${join(p, 'usr/share/mysql')}`,
    `--plugin-dir=${join(p, 'usr/lib/mysql/plugin')}`,
    ...INNODB_ARGS,
  ];
}

let templatePromise: Promise<string> | null = null;

/** The path of an initialised MySQL template datadir, built once (safe across processes). */
export function ensureMysqlTemplate(): Promise<string> {
  templatePromise ??= buildMysqlTemplate().catch((error) => {
    templatePromise = null;
    throw error;
  });
  return templatePromise;
}

async function buildMysqlTemplate(): Promise<string> {
  const install = requireMysqlInstall();
  const args = [...baseArgs(install), '--initialize-insecure'];
  return buildTemplateOnce(`mysql ${install.version} ${args.join(' ')}`, async (dataDir) => {
    const [command, ...rest] = mysqlCommand(install, 'usr/sbin/mysqld', [...args, `--datadir=${dataDir}`]);
    try {
      await execFileAsync(command!, rest, { timeout: 180_000 });
    } catch (error) {
      throw new ProcessError('mysqld --initialize-insecure failed to initialise the template datadir', {
        cause: error,
      });
    }
  });
}

/** A local mysqld the harness controls. */
export class MysqlServer extends LocalServer {
  readonly flavor = 'mysql' as const;

  async initialise(): Promise<void> {
    const template = await ensureMysqlTemplate();
    // The watchdog's salvage (in this process and the ones it starts) reads the binary log with MySQL's
    // own mysqlbinlog, as a production host with the MySQL client installed would.
    process.env[MYSQLBINLOG_ENV] ??= mysqlbinlogWrapper(requireMysqlInstall());
    mkdirSync(this.baseDir, { recursive: true });
    cpSync(template, this.dataDir, { recursive: true });
    // auto.cnf holds the template's server_uuid: every copy must generate its own, or replication
    // refuses a source with the replica's own UUID.
    rmSync(join(this.dataDir, 'auto.cnf'), { force: true });
  }

  protected launch(once: StartOverrides = {}): LaunchSpec {
    const install = requireMysqlInstall();
    // An empty option file instead of --no-defaults: as on a host, the server also reads the values
    // persisted with SET PERSIST (mysqld-auto.cnf in the datadir), which --no-defaults skips.
    const defaults = join(this.baseDir, 'my.cnf');
    if (!existsSync(defaults)) writeFileSync(defaults, '[mysqld]\n');
    const args = [
      `--defaults-file=${defaults}`,
      ...baseArgs(install).filter((a) => a !== '--no-defaults'),
      `--datadir=${this.dataDir}`,
      `--socket=${this.socketPath}`,
      `--pid-file=${join(this.baseDir, 'mysqld.pid')}`,
      `--log-error=${this.errorLogPath}`,
      `--tmpdir=${this.baseDir}`,
      // Restores and dumps may read and write files anywhere the harness puts them.
      '--secure-file-priv=',
      '--mysqlx=OFF',
      '--bind-address=127.0.0.1',
      `--port=${this._port}`,
      `--server-id=${this.serverId}`,
      '--log-bin=mysql-bin',
      '--relay-log=relay-bin',
      '--log-replica-updates=ON',
      '--gtid-mode=ON',
      '--enforce-gtid-consistency=ON',
      // The seed's mode: every server writable, the watchdog fences. Or read-only at every start.
      `--read-only=${(once.readOnly ?? this.options.readOnly) ? 'ON' : 'OFF'}`,
      ...(once.skipSlaveStart ? ['--skip-replica-start'] : []),
      // The clone plugin, as the README's MySQL settings say: a physical reseed runs CLONE INSTANCE.
      '--plugin-load-add=mysql_clone.so',
      '--skip-name-resolve',
      // Health checks and killed clients must never get 127.0.0.1 blocked.
      '--max-connect-errors=1000000',
      // Chaos runs hold many sessions at once (writers and sysbench through three routers, the
      // watchdogs of three groups, handshakes cut short by a loaded machine, and the backlog a frozen
      // server accepts at once when it resumes); MySQL's default is 151. Seen: 1,000 was not enough.
      '--max-connections=2000',
      `--replica-net-timeout=${this.options.slaveNetTimeout ?? 4}`,
      '--character-set-server=utf8mb4',
      // Start and stop faster; caches sized for a test server.
      '--innodb-buffer-pool-load-at-startup=OFF',
      '--innodb-buffer-pool-dump-at-shutdown=OFF',
      '--table-open-cache=256',
      '--table-definition-cache=400',
      '--open-files-limit=8192',
      '--performance-schema-max-table-instances=400',
      ...(this.options.extraArgs ?? []),
    ];
    const [command, ...rest] = mysqlCommand(install, 'usr/sbin/mysqld', args);
    return { command: command!, args: rest, label: 'mysqld' };
  }
}
