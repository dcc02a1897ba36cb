/**
 * The process side of a local database server the harness controls, shared by MariaDB and MySQL:
 * start on a loopback port and a unix socket in the cluster folder, wait until it accepts connections,
 * clean stop, crash (SIGKILL), freeze (SIGSTOP), and root access over the socket. A subclass says which
 * binary runs with which arguments and how a datadir is initialised.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GtidFlavor } from '../../core/gtid.js';
import { errorMessage, ProcessError } from '../../errors.js';
import { logTail } from './diagnostics.js';
import { isAddressInUse } from './ports.js';
import { isAlive, killHard, procState, signal, terminate } from './processes.js';
import { type Connection, type ConnectTarget, openConnection, queryOnce, type Row } from './sql.js';

export interface LocalServerOptions {
  name: string;
  serverId: number;
  /** The cluster folder; the server's files go to <clusterDir>/<name>/. */
  clusterDir: string;
  port: number;
  /** slave_net_timeout / replica_net_timeout in seconds; the replica's heartbeat period is half of it. */
  slaveNetTimeout?: number;
  /**
   * read_only=ON at every start, as a my.cnf with `read_only = ON` gives: a restarted server never
   * comes back writable. Default OFF (the original script's mode: every server writable).
   */
  readOnly?: boolean;
  extraArgs?: readonly string[];
  /**
   * Started as systemd (MySQL's unit) or mysqld_safe starts it: MYSQLD_PARENT_PID set, and an exit
   * with code 16 (RESTART, or the restart after a CLONE) starts it again with the same options. Without
   * it, such a restart fails with error 3707 and the server stays down (MySQL only).
   */
  supervised?: boolean;
}

/**
 * Changes to one start only: a physical reseed starts the rebuilt server read-only, without
 * replication, as its systemd path does with MYSQLD_OPTS.
 */
export interface StartOverrides {
  readOnly?: boolean;
  skipSlaveStart?: boolean;
}

/** How a subclass's server binary is started. */
export interface LaunchSpec {
  command: string;
  args: string[];
  /** The program's name in messages (mariadbd, mysqld). */
  label: string;
}

export abstract class LocalServer {
  abstract readonly flavor: GtidFlavor;
  readonly name: string;
  readonly host = '127.0.0.1';
  readonly serverId: number;
  readonly baseDir: string;
  readonly dataDir: string;
  readonly socketPath: string;
  readonly errorLogPath: string;
  protected _port: number;
  private child: ChildProcess | null = null;
  private exited = true;
  /** How many times the supervisor started the server again after it asked for a restart (exit 16). */
  restarts = 0;
  protected readonly options: LocalServerOptions;

  constructor(options: LocalServerOptions) {
    this.options = options;
    this.name = options.name;
    this.serverId = options.serverId;
    this._port = options.port;
    this.baseDir = join(options.clusterDir, options.name);
    this.dataDir = join(this.baseDir, 'data');
    this.socketPath = join(this.baseDir, 'mysqld.sock');
    this.errorLogPath = join(this.baseDir, 'error.log');
  }

  /** Creates the datadir (first start only). */
  abstract initialise(): Promise<void>;

  /** The binary and arguments for the current port and options (and this start's overrides). */
  protected abstract launch(once?: StartOverrides): LaunchSpec;

  get port(): number {
    return this._port;
  }

  /** "127.0.0.1:port", the form routers and the watchdog config use. */
  get address(): string {
    return `${this.host}:${this._port}`;
  }

  /** Pid of the running server, or null when it is not running. */
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

  /** Used by the cluster when the first start lost its port to another process. */
  setPort(port: number): void {
    if (this.isRunning()) throw new ProcessError(`${this.name}: cannot change the port of a running server`);
    this._port = port;
  }

  /** Starts the server with the same datadir, port and options; resolves when it accepts connections. */
  async start(timeoutMs = 60_000, once: StartOverrides = {}): Promise<void> {
    if (this.isRunning()) return;
    const { command, args, label } = this.launch(once);
    const env = this.options.supervised
      ? { ...process.env, MYSQLD_PARENT_PID: String(process.pid) }
      : undefined;
    const logOffset = existsSync(this.errorLogPath) ? readFileSync(this.errorLogPath).length : 0;
    const out = openSync(join(this.baseDir, 'stdout.log'), 'a');
    let child: ChildProcess;
    try {
      // Own process group: a Ctrl-C in the terminal reaches our exit hooks, which stop the servers in order.
      child = spawn(command, args, { detached: true, stdio: ['ignore', out, out], ...(env ? { env } : {}) });
    } finally {
      closeSync(out);
    }
    child.unref();
    this.child = child;
    this.exited = false;
    child.once('exit', (code) => {
      if (this.child !== child) return;
      this.exited = true;
      // The supervisor's part (systemd's RestartForceExitStatus=16): a restart the server asked for.
      if (this.options.supervised && code === 16) {
        this.restarts++;
        this.start(timeoutMs).catch(() => undefined);
      }
    });
    child.once('error', () => {
      if (this.child === child) this.exited = true;
    });
    const deadline = Date.now() + timeoutMs;
    let lastError = 'no socket yet';
    for (;;) {
      if (this.exited || child.pid === undefined) {
        const log = this.readLogSince(logOffset);
        throw new ProcessError(
          `${this.name}: ${label} (port ${this._port}) exited during startup; its error log:\n${logTail(log)}`,
          { details: { port: this._port, addressInUse: isAddressInUse(log), log: log.slice(-2000) } },
        );
      }
      if (existsSync(this.socketPath)) {
        try {
          await this.query('SELECT 1');
          return;
        } catch (error) {
          // not ready yet
          lastError = errorMessage(error);
        }
      }
      if (Date.now() > deadline) {
        await killHard(child.pid, () => this.exited);
        const log = this.readLogSince(logOffset);
        throw new ProcessError(
          `${this.name}: ${label} (port ${this._port}) did not accept connections within ${timeoutMs} ms ` +
            `(waited for SELECT 1 over ${this.socketPath}; last: ${lastError}); its error log:\n${logTail(log)}`,
          { details: { port: this._port, lastError, log: log.slice(-2000) } },
        );
      }
      await sleep(30);
    }
  }

  /** The tail of the server's error log, for an error message. */
  logs(bytes = 2_000): string {
    return `--- ${this.errorLogPath}\n${logTail(this.readLogSince(0), bytes)}`;
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
    // Generous: on a loaded machine (chaos under sysbench, other test runs) a busy server accepts slowly.
    return { socketPath: this.socketPath, user: 'root', password: '', connectTimeoutMs: 10_000 };
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
