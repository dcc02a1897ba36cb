/**
 * One local HAProxy router (one per backend), run in master-worker mode: the master's pid is stable
 * across reloads (SIGUSR2 re-reads the config and starts a new worker, as `systemctl reload haproxy`
 * does on a real backend), and the pidfile holds the master's pid.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProcessError, RouterSwitchError } from '../../errors.js';
import { logTail } from './diagnostics.js';
import {
  type HaproxyDestination,
  type HealthCheck,
  type RouterMode,
  renderHaproxyConfig,
  STICKY_LUA,
} from './haproxy-config.js';
import { requireBinary } from './mariadb.js';
import { isAddressInUse } from './ports.js';
import { isAlive, killHard, signal, terminate } from './processes.js';
import { routesThrough } from './sql.js';

export interface HaproxyRouterOptions {
  group: string;
  name: string;
  /** The cluster folder; the router's files go to <clusterDir>/<name>/. */
  clusterDir: string;
  port: number;
  mode: RouterMode;
  destinations: readonly HaproxyDestination[];
  /** The account routesTo() logs in with through the router. */
  probeAccount: { user: string; password: string };
  /** The servers' health check (default 'mysql-check'; MySQL 8.4+/9 need 'greeting'). */
  healthCheck?: HealthCheck;
}

/** Sends one command to an HAProxy runtime API socket and returns the whole answer. */
export function runtimeCommand(socketPath: string, command: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let answer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`runtime API ${socketPath}: no answer to "${command}" within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.end(`${command}\n`));
    socket.on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(answer);
    });
  });
}

export interface MasterStatus {
  reloads: number;
  failedReloads: number;
  /** Pids of the current workers (not the old ones still finishing their sessions). */
  workers: number[];
}

export interface ServerState {
  name: string;
  /** UP, DOWN, MAINT, DRAIN, NOLB, or a transition like "UP 1/2". */
  status: string;
  backup: boolean;
}

export class HaproxyRouter {
  readonly kind = 'haproxy' as const;
  readonly group: string;
  readonly name: string;
  readonly host = '127.0.0.1';
  readonly mode: RouterMode;
  readonly baseDir: string;
  readonly configPath: string;
  readonly adminSocketPath: string;
  readonly masterSocketPath: string;
  readonly pidFile: string;
  readonly luaPath: string;
  readonly logPath: string;
  private _port: number;
  private child: ChildProcess | null = null;
  private exited = true;
  private readonly options: HaproxyRouterOptions;

  constructor(options: HaproxyRouterOptions) {
    this.options = options;
    this.group = options.group;
    this.name = options.name;
    this.mode = options.mode;
    this._port = options.port;
    this.baseDir = join(options.clusterDir, options.name);
    this.configPath = join(this.baseDir, 'haproxy.cfg');
    this.adminSocketPath = join(this.baseDir, 'admin.sock');
    this.masterSocketPath = join(this.baseDir, 'master.sock');
    this.pidFile = join(this.baseDir, 'haproxy.pid');
    this.luaPath = join(this.baseDir, 'sticky.lua');
    this.logPath = join(this.baseDir, 'haproxy.log');
  }

  get port(): number {
    return this._port;
  }

  get address(): string {
    return `${this.host}:${this._port}`;
  }

  /** Pid of the HAProxy master process, or null when it is not running. */
  get pid(): number | null {
    const pid = this.child?.pid;
    return pid !== undefined && !this.exited && isAlive(pid) ? pid : null;
  }

  isRunning(): boolean {
    return this.pid !== null;
  }

  /** Writes the initial config (first start, or after a port change). */
  writeConfig(): void {
    mkdirSync(this.baseDir, { recursive: true });
    if (this.mode === 'sticky') writeFileSync(this.luaPath, STICKY_LUA);
    writeFileSync(
      this.configPath,
      renderHaproxyConfig({
        bindPort: this._port,
        adminSocketPath: this.adminSocketPath,
        pidFile: this.pidFile,
        destinations: this.options.destinations,
        mode: this.mode,
        stickyLuaPath: this.luaPath,
        healthCheck: this.options.healthCheck,
      }),
    );
  }

  /** Only before the first start: a lost port race is retried with a new port. */
  setPort(port: number): void {
    if (this.isRunning()) throw new ProcessError(`${this.name}: cannot change the port of a running router`);
    this._port = port;
    this.writeConfig();
  }

  /** Starts HAProxy on the current config file; resolves when it listens and its runtime API answers. */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.isRunning()) return;
    const haproxy = requireBinary('haproxy');
    if (!existsSync(this.configPath)) this.writeConfig();
    const logOffset = existsSync(this.logPath) ? readFileSync(this.logPath).length : 0;
    const out = openSync(this.logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(haproxy, ['-W', '-f', this.configPath, '-S', this.masterSocketPath], {
        detached: true,
        stdio: ['ignore', out, out],
      });
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
      if (this.exited) {
        const log = this.readLogSince(logOffset);
        throw new ProcessError(`${this.name}: haproxy exited during startup`, {
          details: { port: this._port, addressInUse: isAddressInUse(log), log: log.slice(-2000) },
        });
      }
      if (existsSync(this.adminSocketPath) && (await this.workerPid()) !== null) return;
      if (Date.now() > deadline) {
        if (child.pid !== undefined) await killHard(child.pid, () => this.exited);
        throw new ProcessError(`${this.name}: haproxy did not become ready within ${timeoutMs} ms`, {
          details: { log: this.readLogSince(logOffset).slice(-2000) },
        });
      }
      await sleep(25);
    }
  }

  private readLogSince(offset: number): string {
    try {
      return readFileSync(this.logPath).subarray(offset).toString('utf8');
    } catch {
      return '';
    }
  }

  /** The tail of the router's log, for an error message. */
  logs(bytes = 2_000): string {
    return `--- ${this.logPath}\n${logTail(this.readLogSince(0), bytes)}`;
  }

  /** The pid of the worker answering on the runtime API, or null if none answers. */
  async workerPid(): Promise<number | null> {
    try {
      const info = await runtimeCommand(this.adminSocketPath, 'show info', 1_000);
      const match = /^Pid: (\d+)$/m.exec(info);
      return match ? Number(match[1]) : null;
    } catch {
      return null;
    }
  }

  /** The master's view (master CLI `show proc`): reload count, failed reloads, current workers. */
  async masterStatus(): Promise<MasterStatus | null> {
    let text: string;
    try {
      text = await runtimeCommand(this.masterSocketPath, 'show proc', 1_000);
    } catch {
      return null; // the master is re-executing itself (during a reload) or gone
    }
    const master = /^\d+\s+master\s+(\d+)\s+\[failed: (\d+)\]/m.exec(text);
    if (!master) return null;
    const workersSection = text.split('# workers')[1]?.split('\n#')[0] ?? '';
    const workers = [...workersSection.matchAll(/^(\d+)\s+worker/gm)].map((m) => Number(m[1]));
    return { reloads: Number(master[1]), failedReloads: Number(master[2]), workers };
  }

  /**
   * Re-reads the config file (SIGUSR2 to the master, as `systemctl reload` does). Resolves when the
   * master has finished the reload and its new worker answers on the runtime API; throws if the master
   * rejected the new config (it then keeps the old worker running).
   */
  async reload(timeoutMs = 30_000): Promise<void> {
    const master = this.pid;
    if (master === null) throw new ProcessError(`${this.name} is not running`);
    const deadline = Date.now() + timeoutMs;
    // A signal sent while the master re-executes itself for an earlier reload can be lost: wait until
    // it answers on its CLI first.
    let before = await this.masterStatus();
    while (before === null) {
      if (Date.now() > deadline || !this.isRunning()) {
        throw new RouterSwitchError(
          `${this.name}: HAProxy master does not answer on ${this.masterSocketPath}`,
        );
      }
      await sleep(25);
      before = await this.masterStatus();
    }
    signal(master, 'SIGUSR2');
    while (Date.now() < deadline) {
      await sleep(25);
      const now = await this.masterStatus();
      if (now === null || now.reloads <= before.reloads) continue;
      if (now.failedReloads > before.failedReloads) {
        throw new RouterSwitchError(
          `${this.name}: HAProxy rejected the new config; the old worker keeps running`,
          {
            details: { configPath: this.configPath, log: this.readLogSince(0).slice(-2000) },
          },
        );
      }
      const fresh = now.workers.find((pid) => !before.workers.includes(pid));
      if (fresh !== undefined && (await this.workerPid()) === fresh) return;
    }
    throw new RouterSwitchError(`${this.name}: reload did not bring up a new worker within ${timeoutMs} ms`, {
      details: { configPath: this.configPath, log: this.readLogSince(0).slice(-2000) },
    });
  }

  /** Clean stop (SIGTERM to the master stops its workers), SIGKILL after the grace period. */
  async stop(graceMs = 5_000): Promise<void> {
    const pid = this.child?.pid;
    if (pid === undefined || this.exited) return;
    await terminate(pid, graceMs, () => this.exited);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Runs a runtime API command (e.g. `show servers state`, `set server mysql_failover/db1 state ready`). */
  runtime(command: string): Promise<string> {
    return runtimeCommand(this.adminSocketPath, command);
  }

  /** Health/admin state of each server of the listen section, as HAProxy sees it now. */
  async serverStates(section = 'mysql_failover'): Promise<ServerState[]> {
    const csv = await this.runtime('show stat');
    const lines = csv.split('\n').filter((line) => line.trim() !== '');
    const header = (lines[0] ?? '').replace(/^# /, '').split(',');
    const col = (name: string) => header.indexOf(name);
    const states: ServerState[] = [];
    for (const line of lines.slice(1)) {
      const fields = line.split(',');
      const svname = fields[col('svname')] ?? '';
      if (fields[col('pxname')] !== section || svname === 'FRONTEND' || svname === 'BACKEND') continue;
      states.push({ name: svname, status: fields[col('status')] ?? '', backup: fields[col('bck')] === '1' });
    }
    return states;
  }

  /**
   * Which server a NEW connection through this router lands on ("host:port" of the server, from
   * @@port), or null if the router accepts nothing or forwards to nothing.
   */
  async routesTo(timeoutMs = 5_000): Promise<string | null> {
    return routesThrough(this, this.options.probeAccount, timeoutMs);
  }
}
