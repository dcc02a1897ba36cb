/**
 * Runs the backend watcher (infra/watcher/watcher.sh, the very file the SSM document installs) as a
 * child process, for the tests and the detection benchmark. The script is copied into a folder the
 * caller names (a harness cluster's folder), so the harness's reaper stops it with the cluster even if
 * this process dies.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WATCHER_SCRIPT = fileURLToPath(new URL('../../infra/watcher/watcher.sh', import.meta.url));

export interface WatcherOptions {
  /** Folder the script copy lives in (and the process is found by). */
  dir: string;
  /** Name of the copy (several watchers per folder). */
  name: string;
  /** MFW_* settings and AWS_* credentials; nothing else of this process's environment but PATH. */
  env: Record<string, string>;
  /**
   * The command that runs the watcher, when it is not the repository's script run by bash (e.g. the
   * installed copy, started the way its systemd unit starts it). Nothing is copied then.
   */
  command?: { file: string; args: string[] };
}

export class WatcherProcess {
  private child: ChildProcess | undefined;
  private out = '';
  private exited: Promise<number | null> | undefined;

  constructor(private readonly options: WatcherOptions) {}

  start(): void {
    mkdirSync(this.options.dir, { recursive: true });
    let command = this.options.command;
    if (!command) {
      const copy = join(this.options.dir, `${this.options.name}.sh`);
      copyFileSync(WATCHER_SCRIPT, copy);
      command = { file: 'bash', args: [copy] };
    }
    const child = spawn(command.file, command.args, {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        ...(this.options.command ? {} : { MFW_SETTINGS_FILE: '' }),
        ...this.options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.out += d;
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.out += d;
    });
    // Resolves once the process has exited AND its pipes are drained.
    this.exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
    this.child = child;
  }

  /** Everything it printed so far (stdout and stderr). */
  output(): string {
    return this.out;
  }

  /** Resolves when its output contains `text` (or the condition holds), or rejects after `timeoutMs` with what it printed. */
  async waitForOutput(text: string | RegExp | (() => boolean), timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const found = () =>
      typeof text === 'string'
        ? this.out.includes(text)
        : text instanceof RegExp
          ? text.test(this.out)
          : text();
    while (!found()) {
      if (this.child?.exitCode !== null && this.child?.exitCode !== undefined) {
        throw new Error(`the watcher exited (${this.child.exitCode}) before printing ${text}:\n${this.out}`);
      }
      if (Date.now() > deadline)
        throw new Error(`the watcher did not print ${text} in ${timeoutMs} ms:\n${this.out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGTERM, and the exit code once it has exited (it traps TERM and exits 0). */
  async stop(): Promise<number | null> {
    if (!this.child || !this.exited) return null;
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), 10_000);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
