/**
 * HostCommands on this machine: runs the very script the SSM document carries
 * (infra/ssm/reseed/reseed.sh) with bash. Used by the CLI on a database host, the sandbox and the tests.
 *
 * A server may come with a service hook instead of a systemd unit: the script then asks its caller to
 * stop and start the server through two pipes (fd 3: requests, fd 4: replies), so the sandbox's own
 * server process is stopped and started by the harness that owns it, and no command string ever
 * reaches the script.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { ServerId } from '../../core/snapshot.js';
import { errorMessage, ReseedCommandError } from '../../errors.js';
import { type CommandStatus, type HostCommands, parseScriptResult } from './commands.js';
import { type ReseedCommandRequest, scriptEnvironment } from './parameters.js';

export const RESEED_SCRIPT_PATH = fileURLToPath(
  new URL('../../../infra/ssm/reseed/reseed.sh', import.meta.url),
);

export interface ServiceHook {
  stop(): Promise<void>;
  /** Starts the server with read_only=ON and without starting replication. */
  startReadOnly(): Promise<void>;
}

export interface LocalHost {
  /** The host's settings (RESEED_STORE, RESEED_DATADIR, RESEED_WORK_DIR, RESEED_SOCKET, ...). */
  settings: Readonly<Record<string, string>>;
  /** Stop/start through the caller; without it the script uses systemd. */
  service?: ServiceHook;
}

export interface LocalCommandsOptions {
  hosts: ReadonlyMap<ServerId, LocalHost>;
  scriptPath?: string;
  /** Extra environment for every run (credentials of a local S3 endpoint, PATH). */
  env?: Readonly<Record<string, string>>;
  log?: (message: string, extra?: Record<string, unknown>) => void;
}

interface Running {
  done: Promise<CommandStatus>;
  status: CommandStatus;
}

export class LocalHostCommands implements HostCommands {
  readonly kind = 'local';
  private readonly running = new Map<string, Running>();

  constructor(private readonly options: LocalCommandsOptions) {}

  async reachable(server: ServerId): Promise<boolean> {
    return this.options.hosts.has(server);
  }

  async start(server: ServerId, request: ReseedCommandRequest): Promise<string> {
    const host = this.options.hosts.get(server);
    if (!host) throw new ReseedCommandError(`no local host is configured for ${server}`);
    const id = `local-${randomBytes(6).toString('hex')}`;
    const entry: Running = { status: { state: 'running' }, done: Promise.resolve({ state: 'running' }) };
    entry.done = this.run(host, request).then(
      (s) => (entry.status = s),
      (error: unknown) => (entry.status = { state: 'failed', error: errorMessage(error) }),
    );
    this.running.set(id, entry);
    return id;
  }

  async status(_server: ServerId, commandId: string): Promise<CommandStatus> {
    const entry = this.running.get(commandId);
    // A command of another process (a CLI run that ended): its outcome is unknown, start it again.
    if (!entry) return { state: 'failed', error: `command ${commandId} is not known to this process (lost)` };
    return entry.status;
  }

  /** Resolves when the command ends (tests and the bench wait on it instead of polling). */
  async wait(commandId: string): Promise<CommandStatus> {
    const entry = this.running.get(commandId);
    return entry ? entry.done : { state: 'failed', error: 'unknown command' };
  }

  private run(host: LocalHost, request: ReseedCommandRequest): Promise<CommandStatus> {
    const hook = host.service;
    const env = {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
      HOME: process.env.HOME ?? '/root',
      ...this.options.env,
      ...host.settings,
      ...scriptEnvironment(request, hook ? 'hook' : 'systemd'),
    };
    return new Promise((resolve, reject) => {
      const child = spawn('bash', [this.options.scriptPath ?? RESEED_SCRIPT_PATH], {
        env,
        stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (d: Buffer) => {
        stdout += d.toString();
      });
      child.stderr?.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-20_000);
      });
      const requests = child.stdio[3];
      const replies = child.stdio[4] as Writable | null;
      if (requests && replies) {
        replies.on('error', () => {});
        const lines = createInterface({ input: requests as NodeJS.ReadableStream });
        lines.on('line', (line) => {
          const action =
            line === 'stop' ? hook?.stop() : line === 'start-read-only' ? hook?.startReadOnly() : undefined;
          this.options.log?.('physical reseed: service hook', { request: line });
          Promise.resolve(action ?? Promise.reject(new Error(`unknown hook request ${line}`))).then(
            () => replies.write('ok\n'),
            (error: unknown) => {
              this.options.log?.('physical reseed: service hook failed', { error: errorMessage(error) });
              replies.write('failed\n');
            },
          );
        });
      }
      child.once('error', reject);
      child.once('close', (code) => {
        const result = parseScriptResult(stdout);
        if (code === 0 && result?.ok) resolve({ state: 'succeeded', result });
        else
          resolve({
            state: 'failed',
            ...(result ? { result } : {}),
            error: result?.message || `exit ${code}: ${stderr.trim().split('\n').slice(-5).join(' | ')}`,
          });
      });
    });
  }
}
