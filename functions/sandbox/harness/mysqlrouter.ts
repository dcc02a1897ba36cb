/**
 * One real MySQL Router 9.7 (the original script's router), configured like the seed's: one
 * `[routing:mysql_failover]` section, destinations primary first, an ordered routing strategy
 * (next-available, or first-available in 'failback' mode).
 *
 * MySQL Router reads its destinations only at start, so it is switched as in production: the router
 * script rewrites the destinations line and restarts it. In the sandbox the restart is `restart.sh` in
 * the router's folder (standing for `systemctl restart mysqlrouter`; sandboxRouterSwitch passes it as
 * the router's apply command), and the harness starts the router with the same script.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { errorMessage, ProcessError } from '../../errors.js';
import { logTail } from './diagnostics.js';
import { DEFAULT_SECTION, type RouterMode } from './haproxy-config.js';
import { mysqlCommand, requireMysqlInstall } from './mysql-install.js';
import { isAddressInUse } from './ports.js';
import { isAlive, procCmdline, terminate } from './processes.js';
import { routesThrough } from './sql.js';

const execFileAsync = promisify(execFile);

export interface MysqlRouterOptions {
  group: string;
  name: string;
  clusterDir: string;
  port: number;
  /** Destinations in priority order: the primary first. */
  destinations: ReadonlyArray<{ host: string; port: number }>;
  /** The account routesTo() logs in with through the router. */
  probeAccount: { user: string; password: string };
  /**
   * 'sticky' (default): routing_strategy=next-available — a destination that failed is not used again
   * until the router restarts, so writes stay on the replica the router moved to. 'failback':
   * first-available — the router goes back to the first destination as soon as it answers again.
   */
  mode?: RouterMode;
}

/** The shell quoting of one word (single quotes). */
export function shellWord(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export class MysqlRouter {
  readonly kind = 'mysqlrouter' as const;
  readonly group: string;
  readonly name: string;
  readonly host = '127.0.0.1';
  readonly baseDir: string;
  readonly configPath: string;
  /** Stands for `systemctl restart mysqlrouter`: (re)starts the router on its current config. */
  readonly restartScript: string;
  readonly pidFile: string;
  readonly logPath: string;
  private _port: number;
  private readonly options: MysqlRouterOptions;

  constructor(options: MysqlRouterOptions) {
    this.options = options;
    this.group = options.group;
    this.name = options.name;
    this._port = options.port;
    this.baseDir = join(options.clusterDir, options.name);
    this.configPath = join(this.baseDir, 'mysqlrouter.conf');
    this.restartScript = join(this.baseDir, 'restart.sh');
    this.pidFile = join(this.baseDir, 'mysqlrouter.pid');
    this.logPath = join(this.baseDir, 'mysqlrouter.log');
  }

  get port(): number {
    return this._port;
  }

  get address(): string {
    return `${this.host}:${this._port}`;
  }

  /** Only before the first start: a lost port race is retried with a new port. */
  setPort(port: number): void {
    if (this.isRunning()) throw new ProcessError(`${this.name}: cannot change the port of a running router`);
    this._port = port;
    this.writeConfig();
  }

  /** Pid of the running mysqlrouter (from the pid file the restart script writes), or null. */
  get pid(): number | null {
    let pid: number;
    try {
      pid = Number(readFileSync(this.pidFile, 'utf8').trim());
    } catch {
      return null;
    }
    // The pid must still be this router (pid reuse): its command line names this config file.
    return pid > 0 && isAlive(pid) && (procCmdline(pid) ?? '').includes(this.configPath) ? pid : null;
  }

  isRunning(): boolean {
    return this.pid !== null;
  }

  /** Writes the initial config and the restart script (first start, or after a port change). */
  writeConfig(): void {
    const install = requireMysqlInstall();
    mkdirSync(this.baseDir, { recursive: true });
    const destinations = this.options.destinations.map((d) => `${d.host}:${d.port}`).join(',');
    writeFileSync(
      this.configPath,
      [
        "# managed by mysql-failover (sandbox): MySQL Router 9.7, the seed's routing section",
        '[DEFAULT]',
        `logging_folder = ${this.baseDir}`,
        `runtime_folder = ${this.baseDir}`,
        `data_folder = ${this.baseDir}`,
        `plugin_folder = ${join(install.prefix, 'usr/lib/mysqlrouter/plugin')}`,
        'user = root',
        // Router 9.7 waits for a destination's greeting without a time limit once TCP connected (a
        // stalled or frozen server), holding each client that gave up meanwhile (CLOSE-WAIT): retrying
        // clients fill the default 512 within a minute or two, and a full router refuses every client,
        // even ones a healthy destination could serve. Sized, as in production, well above the clients'
        // own connections (docs/deployment.md, "MySQL Router settings").
        'max_total_connections = 4096',
        '',
        '[logger]',
        'level = INFO',
        '',
        `[routing:${DEFAULT_SECTION}]`,
        `bind_address = ${this.host}`,
        `bind_port = ${this._port}`,
        `destinations = ${destinations}`,
        `routing_strategy = ${this.options.mode === 'failback' ? 'first-available' : 'next-available'}`,
        'protocol = classic',
        // A dead destination (connection refused) is skipped at once; a frozen one after this long.
        'connect_timeout = 2',
        '',
      ].join('\n'),
    );
    const command = mysqlCommand(install, 'usr/bin/mysqlrouter', ['-c', this.configPath]);
    writeFileSync(
      this.restartScript,
      [
        '#!/bin/bash',
        '# Stands for `systemctl restart mysqlrouter` in the sandbox: MySQL Router reads its',
        '# destinations only at start. Stops the running router (if any), starts it again on the current',
        '# config and waits until it listens.',
        'set -u',
        `pidfile=${shellWord(this.pidFile)}`,
        'if [ -f "$pidfile" ]; then',
        '  pid=$(cat "$pidfile")',
        `  if [ -n "$pid" ] && tr '\\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- ${shellWord(this.configPath)}; then`,
        '    kill -TERM "$pid" 2>/dev/null',
        '    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done',
        '    kill -KILL "$pid" 2>/dev/null',
        '    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done',
        '  fi',
        '  rm -f "$pidfile"',
        'fi',
        `setsid ${command.map(shellWord).join(' ')} >>${shellWord(join(this.baseDir, 'stdout.log'))} 2>&1 </dev/null &`,
        'echo $! >"$pidfile"',
        'for _ in $(seq 1 600); do',
        `  if (exec 3<>/dev/tcp/${this.host}/${this._port}) 2>/dev/null; then exit 0; fi`,
        '  kill -0 "$(cat "$pidfile")" 2>/dev/null || { echo "mysqlrouter exited during startup" >&2; exit 1; }',
        '  sleep 0.05',
        'done',
        'echo "mysqlrouter did not listen within 30 s" >&2',
        'exit 1',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
  }

  /** Starts the router (the restart script); resolves when it listens. */
  async start(): Promise<void> {
    if (this.isRunning()) return;
    try {
      await execFileAsync('bash', [this.restartScript], { timeout: 60_000 });
    } catch (error) {
      const log = this.logs();
      const script = (error as { stderr?: string }).stderr?.trim() || errorMessage(error);
      throw new ProcessError(
        `${this.name}: mysqlrouter did not start listening on port ${this._port} (restart.sh: ${script})\n${log}`,
        { cause: error, details: { port: this._port, addressInUse: isAddressInUse(log), log } },
      );
    }
  }

  /** The tails of the router's log and of what its process printed, for an error message. */
  logs(bytes = 2_000): string {
    return [this.logPath, join(this.baseDir, 'stdout.log')]
      .map((path) => {
        try {
          return `--- ${path}\n${logTail(readFileSync(path, 'utf8'), bytes)}`;
        } catch {
          return `--- ${path}: none`;
        }
      })
      .join('\n');
  }

  async stop(graceMs = 5_000): Promise<void> {
    const pid = this.pid;
    if (pid === null) return;
    await terminate(pid, graceMs);
  }

  /** What a `systemctl restart mysqlrouter` does: the router re-reads its config. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /**
   * Which server a NEW connection through this router lands on ("host:port" of the server, from
   * @@port), or null if the router accepts nothing or forwards to nothing.
   */
  async routesTo(timeoutMs = 2_000): Promise<string | null> {
    return routesThrough(this, this.options.probeAccount, timeoutMs);
  }
}
