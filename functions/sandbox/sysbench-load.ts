/**
 * sysbench `oltp_write_only` as a chaos run's second application load: one process per router,
 * started again after a pause whenever it gives up, stopped with the run.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';

export const SYSBENCH_ACCOUNT = { user: 'sb_chaos', password: 'chaos-sb-pw' };
const TABLES = ['--mysql-db=sbtest', '--tables=2', '--table-size=500'];

/** What a router's client is given after a load gave up, before it connects again (ms). */
export const SYSBENCH_RESTART_PAUSE_MS = 1_000;

/**
 * The errors a write load meets on a live server during a failover, retried by sysbench in the same
 * session: a fenced or read-only server (1290), a deadlock (1213), a lock wait timeout (1205).
 *
 * Not 'all', and no lost-connection error (2006, 2013): for an ignored lost connection sysbench 1.0
 * connects again every millisecond for as long as that fails, about 750 connections a second from one
 * process. Through three MySQL Routers that kept a MySQL 9.7 server at its 2,000 sessions, from
 * clients still in their handshake, for minutes. Any other error ends the process, and the load starts
 * it again after SYSBENCH_RESTART_PAUSE_MS, as a pooled application connects again.
 */
export const SYSBENCH_IGNORED_ERRORS = '1290,1213,1205';

/** The account, the schema and the two small tables, on the primary `at` (host and port). */
export async function prepareSysbench(at: {
  host: string;
  port: number;
  query(sql: string): Promise<unknown>;
}): Promise<void> {
  for (const sql of [
    'CREATE DATABASE IF NOT EXISTS sbtest',
    `CREATE USER IF NOT EXISTS '${SYSBENCH_ACCOUNT.user}'@'%' IDENTIFIED BY '${SYSBENCH_ACCOUNT.password}'`,
    `GRANT ALL ON sbtest.* TO '${SYSBENCH_ACCOUNT.user}'@'%'`,
  ])
    await at.query(sql);
  execFileSync(
    'sysbench',
    ['oltp_write_only', ...connectionArgs(at), ...TABLES, 'prepare'],
    // Synchronous: a prepare that hung would block every timer of the run, the test's too.
    { stdio: 'ignore', timeout: 180_000 },
  );
}

/**
 * The test's Lua script through a link inside `dir` (the cluster folder), so that the command line
 * names the folder and the harness reaper kills a load the run could not stop (SIGKILL of the run).
 */
export function sysbenchScriptIn(dir: string): string {
  const installed = '/usr/share/sysbench/oltp_write_only.lua';
  if (!existsSync(installed)) return 'oltp_write_only';
  const test = join(dir, 'oltp_write_only.lua');
  if (!existsSync(test)) symlinkSync(installed, test);
  return test;
}

function connectionArgs(at: { host: string; port: number }): string[] {
  return [
    `--mysql-host=${at.host}`,
    `--mysql-port=${at.port}`,
    `--mysql-user=${SYSBENCH_ACCOUNT.user}`,
    `--mysql-password=${SYSBENCH_ACCOUNT.password}`,
  ];
}

/** sysbench oltp_write_only through one router, started again if it gives up; stopped with the run. */
export class SysbenchLoad {
  private child: ChildProcess | null = null;
  private running = false;
  restarts = 0;

  constructor(
    private readonly router: { host: string; port: number },
    /** The Lua script (sysbenchScriptIn). */
    private readonly test: string,
  ) {}

  start(): void {
    this.running = true;
    this.spawnOne();
  }

  private spawnOne(): void {
    if (!this.running) return;
    const child = spawn(
      'sysbench',
      [
        this.test,
        ...connectionArgs(this.router),
        ...TABLES,
        '--threads=1',
        '--rate=10',
        '--time=0',
        `--mysql-ignore-errors=${SYSBENCH_IGNORED_ERRORS}`,
        'run',
      ],
      { stdio: 'ignore' },
    );
    this.child = child;
    child.once('exit', () => {
      if (this.child === child) this.child = null;
      if (this.running) {
        this.restarts++;
        setTimeout(() => this.spawnOne(), SYSBENCH_RESTART_PAUSE_MS).unref();
      }
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGKILL');
    await exited;
  }
}
