/**
 * One local MariaDB server: a copy of a shared template datadir, started with `mariadbd --no-defaults`
 * on a loopback port and a unix socket in the cluster folder.
 *
 * Why a template: `mariadb-install-db` takes about 2 s of CPU per datadir; copying an initialised one
 * takes under 0.1 s. The template is built once per machine (per server version and install options)
 * and kept under the harness root.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants, cpSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { ProcessError } from '../../errors.js';
import {
  type LaunchSpec,
  LocalServer,
  type LocalServerOptions,
  type StartOverrides,
} from './local-server.js';

export type { StartOverrides } from './local-server.js';

import { harnessRoot } from './reaper.js';

const execFileAsync = promisify(execFile);

/** Finds an executable in PATH or the sbin folders (Debian puts mariadbd in /usr/sbin). */
export function findBinary(name: string): string | null {
  const dirs = [
    ...(process.env.PATH ?? '').split(delimiter),
    '/usr/sbin',
    '/usr/local/sbin',
    '/usr/bin',
    '/sbin',
  ];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return null;
}

export function requireBinary(name: string): string {
  const found = findBinary(name);
  if (!found) {
    throw new ProcessError(
      `${name} not found in PATH or /usr/sbin; run \`npm run setup\` (installs mariadb-server, haproxy)`,
      {
        details: { binary: name },
      },
    );
  }
  return found;
}

/** InnoDB sizes small enough that a server starts in about a second; the template must match them. */
const INNODB_ARGS = ['--innodb-buffer-pool-size=64M', '--innodb-log-file-size=16M'];

const INSTALL_ARGS = [
  '--no-defaults',
  '--user=root',
  // root@localhost with an empty password over the socket: mysql2 cannot do unix_socket auth.
  '--auth-root-authentication-method=normal',
  '--skip-test-db',
  ...INNODB_ARGS,
];

let templatePromise: Promise<string> | null = null;

/** The path of an initialised template datadir, building it once if needed (safe across processes). */
export function ensureTemplate(): Promise<string> {
  templatePromise ??= buildTemplate().catch((error) => {
    templatePromise = null;
    throw error;
  });
  return templatePromise;
}

async function buildTemplate(): Promise<string> {
  const mariadbd = requireBinary('mariadbd');
  const installDb = requireBinary('mariadb-install-db');
  const { stdout: version } = await execFileAsync(mariadbd, ['--version']);
  return buildTemplateOnce(`${version} ${INSTALL_ARGS.join(' ')}`, async (dataDir, tmpDir) => {
    try {
      await execFileAsync(installDb, [...INSTALL_ARGS, `--datadir=${dataDir}`, `--tmpdir=${tmpDir}`], {
        timeout: 120_000,
      });
    } catch (error) {
      throw new ProcessError('mariadb-install-db failed to initialise the template datadir', {
        cause: error,
      });
    }
  });
}

/**
 * Builds a template datadir once per machine for `identity` (server version and install options) with
 * `init`, and returns its path. Built beside its final place and renamed: a concurrent builder (another
 * test worker) either wins the rename or finds the finished template; nobody ever sees a
 * half-initialised one.
 */
export async function buildTemplateOnce(
  identity: string,
  init: (dataDir: string, tmpDir: string) => Promise<void>,
): Promise<string> {
  const key = createHash('sha256').update(identity).digest('hex').slice(0, 12);
  const templates = join(harnessRoot(), 'templates');
  const finalDir = join(templates, key);
  if (existsSync(join(finalDir, 'data', 'mysql'))) return join(finalDir, 'data');
  mkdirSync(templates, { recursive: true });
  const tmp = join(templates, `.tmp-${process.pid}-${randomBytes(3).toString('hex')}`);
  // Its own tmpdir: a mariadbd (or another bootstrap) starting with the same tmpdir removes every #sql
  // file there, and the bootstrap then fails on its lost temporary tables ("Unknown table mysql.tmp_...").
  mkdirSync(join(tmp, 'tmp'), { recursive: true });
  try {
    await init(join(tmp, 'data'), join(tmp, 'tmp'));
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
  try {
    renameSync(tmp, finalDir);
  } catch {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(join(finalDir, 'data', 'mysql')))
      throw new ProcessError(`template ${finalDir} is unusable`);
  }
  return join(finalDir, 'data');
}

export type MariadbServerOptions = LocalServerOptions;

/** A local mariadbd the harness controls. */
export class MariadbServer extends LocalServer {
  readonly flavor = 'mariadb' as const;

  /** Copies the template into the datadir (first start only). */
  async initialise(): Promise<void> {
    const template = await ensureTemplate();
    mkdirSync(this.baseDir, { recursive: true });
    cpSync(template, this.dataDir, { recursive: true });
  }

  protected launch(once: StartOverrides = {}): LaunchSpec {
    return { command: requireBinary('mariadbd'), args: this.args(once), label: 'mariadbd' };
  }

  private args(once: StartOverrides = {}): string[] {
    return [
      '--no-defaults',
      '--user=root',
      `--basedir=/usr`,
      `--datadir=${this.dataDir}`,
      `--socket=${this.socketPath}`,
      `--pid-file=${join(this.baseDir, 'mysqld.pid')}`,
      `--log-error=${this.errorLogPath}`,
      `--tmpdir=${this.baseDir}`,
      '--bind-address=127.0.0.1',
      `--port=${this._port}`,
      `--server-id=${this.serverId}`,
      '--log-bin=mysql-bin',
      '--relay-log=relay-bin',
      '--log-slave-updates',
      '--gtid-strict-mode=1',
      '--binlog-format=ROW',
      // The seed's mode: every server writable, the watchdog fences. Or read-only at every start.
      `--read-only=${(once.readOnly ?? this.options.readOnly) ? 'ON' : 'OFF'}`,
      ...(once.skipSlaveStart ? ['--skip-slave-start'] : []),
      '--skip-name-resolve',
      // Health checks and killed clients must never get 127.0.0.1 blocked.
      '--max-connect-errors=1000000',
      `--slave-net-timeout=${this.options.slaveNetTimeout ?? 4}`,
      '--character-set-server=utf8mb4',
      '--collation-server=utf8mb4_general_ci',
      ...INNODB_ARGS,
      // Start and stop faster: no 12 MiB temp tablespace written at startup, no buffer pool dump/load.
      '--innodb-temp-data-file-path=ibtmp1:1M:autoextend',
      '--innodb-buffer-pool-load-at-startup=OFF',
      '--innodb-buffer-pool-dump-at-shutdown=OFF',
      // Caches sized for a test server: the defaults (20000 open files, 128 MiB Aria and MyISAM caches)
      // cost about half a second of startup on a busy 2-core machine, for nothing.
      '--table-open-cache=256',
      '--table-definition-cache=400',
      '--open-files-limit=4096',
      '--aria-pagecache-buffer-size=8M',
      '--key-buffer-size=8M',
      ...(this.options.extraArgs ?? []),
    ];
  }
}
