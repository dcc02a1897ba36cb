/**
 * The RouterSwitch port: what the rest of the watchdog needs from "the routers of a backend group".
 * Two adapters: SSM Run Command (ssm.ts) for backends in AWS, and the same script run by bash on this
 * host (local.ts) for the CLI, the sandbox and the tests.
 */
import type { ScriptResult } from './result.js';

export interface RouterSwitchRequest {
  /** `host:port`, new primary first; the others stay as fallbacks behind it. */
  destinations: readonly string[];
  /** `host:port` of servers that must get no connection until rebuilt (the old primary). */
  fenced?: readonly string[];
  dryRun: boolean;
}

/** What happened to one router (one instance in SSM, one config file locally). */
export type RouterOutcome =
  /** switched and verified (or verification skipped: see result.verify). */
  | 'switched'
  /** already pointed at the destinations: nothing changed. */
  | 'unchanged'
  /** dry run: the new config validated, nothing was touched. */
  | 'dry-run'
  /** status read. */
  | 'status'
  /** failed; the script restored the previous config (or never touched it). */
  | 'failed'
  /** failed AND restoring the previous config failed: the router needs a human. */
  | 'needs-human';

export interface RouterResult {
  /** EC2 instance id, or the local router's id. */
  target: string;
  ok: boolean;
  outcome: RouterOutcome;
  /** 1, or 2 when the first run failed and the retry ran. */
  attempts: number;
  exitCode: number | null;
  /** SSM invocation status (Success, Failed, TimedOut, ...), for SSM results. */
  invocationStatus?: string;
  /** The script's JSON line, when it printed one. */
  result: ScriptResult | null;
  error?: string;
}

export type GroupOutcome =
  | 'switched'
  | 'unchanged'
  | 'dry-run'
  | 'status'
  | 'partial'
  | 'failed'
  | 'no-targets';

export interface GroupSwitchResult {
  group: string;
  action: 'switch' | 'status';
  outcome: GroupOutcome;
  /** True when the group may be left half-switched (or not switched): the caller must raise an alarm. */
  alarm: boolean;
  destinations: string[];
  fenced: string[];
  dryRun: boolean;
  routers: RouterResult[];
  /** SSM command ids (first run and retry), for the report and the console. */
  commandIds: string[];
  message: string;
  durationMs: number;
}

export interface RouterSwitch {
  switch(group: string, request: RouterSwitchRequest): Promise<GroupSwitchResult>;
  /** Where each router of the group points now (Action=status of the same script). */
  status(group: string): Promise<GroupSwitchResult>;
}

/** Raised for a group left partially switched or not switched; wired to SNS / CloudWatch by the caller. */
export interface RouterAlerter {
  alert(result: GroupSwitchResult): Promise<void>;
}
