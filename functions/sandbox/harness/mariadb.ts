/**
 * One local MariaDB server: a copy of a shared template datadir, started with `mariadbd --no-defaults`
 * on a loopback port and a unix socket in the cluster folder.
 *
 * Why a template: `mariadb-install-db` takes about 2 s of CPU per datadir; copying an initialised one
 * takes under 0.1 s. The template is built once per machine (per server version and install options)
 * and kept under the harness root.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  accessSync,
  closeSync,
  constants,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { ProcessError } from '../../errors.js';
import { isAddressInUse } from './ports.js';
import { isAlive, killHard, procState, signal, terminate } from './processes.js';
import { harnessRoot } from './reaper.js';
import { type Connection, type ConnectTarget, openConnection, queryOnce, type Row } from './sql.js';

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
  const key = createHash('sha256').update(version).update(INSTALL_ARGS.join(' ')).digest('hex').slice(0, 12);
  const templates = join(harnessRoot(), 'templates');
  const finalDir = join(templates, key);
  if (existsSync(join(finalDir, 'data', 'mysql'))) return join(finalDir, 'data');
  mkdirSync(templates, { recursive: true });
  // Build beside it and rename: a concurrent builder (another test worker) either wins the rename or
  // finds the finished template; nobody ever sees a half-initialised one.
  const tmp = join(templates, `.tmp-${process.pid}-${randomBytes(3).toString('hex')}`);
  // Its own tmpdir: a mariadbd (or another bootstrap) starting with the same tmpdir removes every #sql
  // file there, and the bootstrap then fails on its lost temporary tables ("Unknown table mysql.tmp_...").
  mkdirSync(join(tmp, 'tmp'), { recursive: true });
  try {
    await execFileAsync(
      installDb,
      [...INSTALL_ARGS, `--datadir=${join(tmp, 'data')}`, `--tmpdir=${join(tmp, 'tmp')}`],
      { timeout: 120_000 },
    );
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    throw new ProcessError('mariadb-install-db failed to initialise the template datadir', { cause: error });
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

export interface MariadbServerOptions {
  name: string;
  serverId: number;
  /** The cluster folder; the server's files go to <clusterDir>/<name>/. */
  clusterDir: string;
  port: number;
  /** slave_net_timeout in seconds; the replica's heartbeat period is half of it. */
  slaveNetTimeout?: number;
  /**
   * read_only=ON at every start, as a my.cnf with `read_only = ON` gives: a restarted server never
   * comes back writable. Default OFF (the original script's mode: every server writable).
   */
  readOnly?: boolean;
  extraArgs?: readonly string[];
}

export interface StartOverrides {
  readOnly?: boolean;
  skipSlaveStart?: boolean;
}

/** A local mariadbd the harness controls. */
export class MariadbServer {
  readonly name: string;
  readonly host = '127.0.0.1';
  readonly serverId: number;
  readonly baseDir: string;
  readonly dataDir: string;
  readonly socketPath: string;
  readonly errorLogPath: string;
  private _port: number;
  private child: ChildProcess | null = null;
  private exited = true;
  private readonly options: MariadbServerOptions;

  constructor(options: MariadbServerOptions) {
    this.options = options;
    this.name = options.name;
    this.serverId = options.serverId;
    this._port = options.port;
    this.baseDir = join(options.clusterDir, options.name);
    this.dataDir = join(this.baseDir, 'data');
    this.socketPath = join(this.baseDir, 'mysqld.sock');
    this.errorLogPath = join(this.baseDir, 'error.log');
  }

  get port(): number {
    return this._port;
  }

  /** "127.0.0.1:port", the form routers and the watchdog config use. */
  get address(): string {
    return `${this.host}:${this._port}`;
  }

  /** Pid of the running mariadbd, or null when it is not running. */
  get pid(): number | null {
    return this.isRunning() ? (this.child?.pid ?? null) : null;
  }

  isRunning(): boolean {
    const pid = this.child?.pid;
    return pid !== undefined && !this.exited && isAlive(pid);
  }

  /** True while stopped with SIGSTOP. */
  isPaused(): boolean {
    const pid = this.pid;
    return pid !== null && procState(pid) === 'T';
  }

  /** Copies the template into the datadir (first start only). */
  async initialise(): Promise<void> {
    const template = await ensureTemplate();
    mkdirSync(this.baseDir, { recursive: true });
    cpSync(template, this.dataDir, { recursive: true });
  }

  /** Used by the cluster when the first start lost its port to another process. */
  setPort(port: number): void {
    if (this.isRunning()) throw new ProcessError(`${this.name}: cannot change the port of a running server`);
    this._port = port;
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

  /**
   * Starts mariadbd with the same datadir, port and options; resolves when it accepts connections.
   * `once` changes this start only (a physical reseed starts the rebuilt server read-only, without
   * replication, as its systemd path does with MYSQLD_OPTS).
   */
  async start(timeoutMs = 60_000, once: StartOverrides = {}): Promise<void> {
    if (this.isRunning()) return;
    const mariadbd = requireBinary('mariadbd');
    const logOffset = existsSync(this.errorLogPath) ? readFileSync(this.errorLogPath).length : 0;
    const out = openSync(join(this.baseDir, 'stdout.log'), 'a');
    let child: ChildProcess;
    try {
      // Own process group: a Ctrl-C in the terminal reaches our exit hooks, which stop the servers in order.
      child = spawn(mariadbd, this.args(once), { detached: true, stdio: ['ignore', out, out] });
    } finally {
      closeSync(out);
    }
    child.unref();
    this.child = child;
    this.exited = false;
    child.once('exit', () => {
      if (this.child === child) this.exited = true;
    });
    child.once('error', () => {
      if (this.child === child) this.exited = true;
    });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exited || child.pid === undefined) {
        const log = this.readLogSince(logOffset);
        throw new ProcessError(`${this.name}: mariadbd exited during startup`, {
          details: { port: this._port, addressInUse: isAddressInUse(log), log: log.slice(-2000) },
        });
      }
      if (existsSync(this.socketPath)) {
        try {
          await this.query('SELECT 1');
          return;
        } catch {
          // not ready yet
        }
      }
      if (Date.now() > deadline) {
        await killHard(child.pid, () => this.exited);
        throw new ProcessError(`${this.name}: mariadbd did not accept connections within ${timeoutMs} ms`, {
          details: { log: this.readLogSince(logOffset).slice(-2000) },
        });
      }
      await sleep(30);
    }
  }

  private readLogSince(offset: number): string {
    try {
      return readFileSync(this.errorLogPath).subarray(offset).toString('utf8');
    } catch {
      return '';
    }
  }

  /** Clean shutdown (SIGTERM, SIGKILL after the grace period). */
  async stop(graceMs = 20_000): Promise<void> {
    const pid = this.child?.pid;
    if (pid === undefined || this.exited) return;
    await terminate(pid, graceMs, () => this.exited);
  }

  /** Simulates a crash: SIGKILL, no shutdown; InnoDB recovers on the next start. */
  async kill9(): Promise<void> {
    const pid = this.child?.pid;
    if (pid === undefined || this.exited) return;
    await killHard(pid, () => this.exited);
  }

  /** Freezes the process (SIGSTOP): connections hang instead of failing, as with a stalled host. */
  async pause(): Promise<void> {
    const pid = this.pid;
    if (pid === null) throw new ProcessError(`${this.name} is not running`);
    signal(pid, 'SIGSTOP');
    for (let i = 0; i < 200 && procState(pid) !== 'T'; i++) await sleep(5);
  }

  async resume(): Promise<void> {
    const pid = this.pid;
    if (pid === null) return;
    signal(pid, 'SIGCONT');
    for (let i = 0; i < 200 && procState(pid) === 'T'; i++) await sleep(5);
  }

  /** Stops (cleanly) and starts again with the same datadir, port and options. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Root over the unix socket. */
  rootTarget(): ConnectTarget {
    return { socketPath: this.socketPath, user: 'root', password: '', connectTimeoutMs: 3_000 };
  }

  /** Runs one statement as root over the socket, on its own short-lived connection. */
  query<T = Row[]>(sql: string, params?: unknown[]): Promise<T> {
    return queryOnce<T>(this.rootTarget(), sql, params);
  }

  /** A connection that the caller ends: root over the socket, or the given account over TCP. */
  connect(account?: { user: string; password: string; database?: string }): Promise<Connection> {
    if (!account) return openConnection(this.rootTarget());
    return openConnection({ host: this.host, port: this._port, ...account, connectTimeoutMs: 3_000 });
  }
}
