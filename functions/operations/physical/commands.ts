/**
 * The port through which the function runs the physical reseed script on a database host: start a
 * command, and look at it again later (from this run, a continuation, or another participant that took
 * over) until it finishes. Adapters: SSM Run Command (ssm-commands.ts) and local bash (local-commands.ts).
 */
import type { ServerId } from '../../core/snapshot.js';
import type { ReseedCommandRequest } from './parameters.js';

/** The script's one JSON line (schema physical-reseed/1). */
export interface ReseedScriptResult {
  ok: boolean;
  action: string;
  key: string;
  host: string;
  /** The GTID position the backup holds (restore only; from mariadb_backup_binlog_info). */
  gtid: string;
  binlog: string;
  /** The offset in `binlog` the backup corresponds to. */
  binlogPos: number;
  rawBytes: number;
  storedBytes: number;
  stopped: boolean;
  started: boolean;
  durationS: number;
  message: string;
}

export type CommandState = 'running' | 'succeeded' | 'failed';

export interface CommandStatus {
  state: CommandState;
  /** The script's result once it ended (absent when it never printed one). */
  result?: ReseedScriptResult;
  /** Why it failed: the script's message, the agent's status, or "lost". */
  error?: string;
}

export interface HostCommands {
  /** Where the commands run, for reports ("ssm", "local"). */
  readonly kind: string;
  /** True when the server's host can run the script now (SSM: its agent is online). */
  reachable(server: ServerId): Promise<boolean>;
  /** Starts the script on the server's host; returns an id that status() accepts, also in a later run. */
  start(server: ServerId, request: ReseedCommandRequest): Promise<string>;
  status(server: ServerId, commandId: string): Promise<CommandStatus>;
}

/** The last line of the output that parses as the script's result, or undefined. */
export function parseScriptResult(stdout: string): ReseedScriptResult | undefined {
  const lines = stdout.split('\n').filter((l) => l.trim().startsWith('{'));
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const value = JSON.parse(lines[i]!) as Record<string, unknown>;
      if (value.schema === 'physical-reseed/1') return value as unknown as ReseedScriptResult;
    } catch {
      // not the result line
    }
  }
  return undefined;
}
