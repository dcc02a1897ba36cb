/**
 * What `repl-watchdog routers switch|status` and the watchdog need from the validated config: building a
 * RouterSwitch for it (local or SSM), choosing destinations, and printable results. functions/cli.ts
 * stays thin and calls these.
 */
import type { Config, GroupConfig } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { type LocalRouter, LocalRouterSwitch } from './local.js';
import type { ApplyMode } from './parameters.js';
import type { GroupSwitchResult, RouterAlerter, RouterSwitch } from './types.js';

/**
 * Destinations for a switch to `to`: the new primary first, then the other configured servers that are
 * not fenced, in config order (fallbacks only: HAProxy backups, later MySQL Router destinations).
 */
export function planDestinations(
  servers: readonly string[],
  to: string,
  fenced: readonly string[] = [],
): string[] {
  if (fenced.includes(to)) throw new UsageError(`${to} is fenced; it cannot be the new primary`);
  return [to, ...servers.filter((s) => s !== to && !fenced.includes(s))];
}

export interface LocalRoutersOptions {
  /** How each router picks up its config (default auto: systemd, else pidfile). */
  applyMode?: ApplyMode;
  applyCommand?: string;
  backupDir?: string;
  verifyTimeoutSeconds?: number;
  alerter?: RouterAlerter;
  env?: Record<string, string>;
}

function localRouters(config: Config, group: GroupConfig, options: LocalRoutersOptions): LocalRouter[] {
  return group.routers.map((router) => {
    const configPath = router.configPath ?? group.configPath;
    if (!configPath) {
      throw new UsageError(`group ${group.name}: router ${router.id} has no configPath (router or group)`);
    }
    const watchdog = config.credentials.watchdog;
    return {
      id: router.id,
      routerKind: group.routerKind,
      configPath,
      section: group.section,
      applyMode: options.applyMode,
      applyCommand: options.applyCommand,
      // The router's own address is where the application connects: verify exactly there.
      verifyAddress: router.id,
      verifyUser: watchdog?.user,
      verifyPassword: watchdog?.password,
      verifyTimeoutSeconds: options.verifyTimeoutSeconds,
      backupDir: options.backupDir,
    };
  });
}

/** A RouterSwitch that runs the router script on this host for every group of the config. */
export function localRouterSwitchFromConfig(
  config: Config,
  options: LocalRoutersOptions = {},
): LocalRouterSwitch {
  const groups: Record<string, LocalRouter[]> = {};
  for (const group of config.groups) groups[group.name] = localRouters(config, group, options);
  return new LocalRouterSwitch({ groups, alerter: options.alerter, env: options.env });
}

export interface PrintableResult {
  /** 0: done; 1: the group is not (fully) switched; the alarm flag is set. */
  exitCode: number;
  text: string;
  results: GroupSwitchResult[];
}

/** Human-readable lines for one group result. */
export function formatGroupResult(result: GroupSwitchResult): string {
  const lines = [`${result.group}: ${result.outcome}${result.alarm ? ' (ALARM)' : ''} - ${result.message}`];
  for (const router of result.routers) {
    const r = router.result;
    const points = r ? (r.action === 'status' ? r.destinations : r.previous) : [];
    const verify = r ? `verify ${r.verify.status}${r.verify.answered ? ` (${r.verify.answered})` : ''}` : '';
    const detail =
      r && r.action === 'status'
        ? `points at ${points.join(', ') || 'nothing'}; ${verify}`
        : r
          ? `${r.message}; was ${r.previous.join(', ') || 'nothing'}; ${verify}${r.rolledBack ? '; rolled back' : ''}`
          : (router.error ?? '');
    lines.push(
      `  ${router.target}: ${router.outcome}${router.attempts > 1 ? ' (after retry)' : ''} - ${detail}`,
    );
    for (const warning of r?.warnings ?? []) lines.push(`    warning: ${warning}`);
  }
  return lines.join('\n');
}

export interface RoutersSwitchArgs {
  group: string;
  /** `host:port` of the new primary. */
  to: string;
  /** `host:port` of servers to keep out (the old primary). */
  fence?: readonly string[];
  dryRun?: boolean;
}

/** `repl-watchdog routers switch --group G --to HOST:PORT [--fence HOST:PORT] [--dry-run]` */
export async function routersSwitchCommand(
  config: Config,
  routerSwitch: RouterSwitch,
  args: RoutersSwitchArgs,
): Promise<PrintableResult> {
  const servers = config.servers.map((s) => s.id);
  if (!servers.includes(args.to)) {
    throw new UsageError(`--to ${args.to} is not one of the configured servers (${servers.join(', ')})`);
  }
  if (!config.groups.some((g) => g.name === args.group)) {
    throw new UsageError(`unknown group ${args.group} (${config.groups.map((g) => g.name).join(', ')})`);
  }
  const fenced = [...(args.fence ?? [])];
  const result = await routerSwitch.switch(args.group, {
    destinations: planDestinations(servers, args.to, fenced),
    fenced,
    dryRun: args.dryRun ?? false,
  });
  return { exitCode: result.alarm ? 1 : 0, text: formatGroupResult(result), results: [result] };
}

/** `repl-watchdog routers status [--group G]`: every group when none is given. */
export async function routersStatusCommand(
  config: Config,
  routerSwitch: RouterSwitch,
  args: { group?: string } = {},
): Promise<PrintableResult> {
  const names = args.group ? [args.group] : config.groups.map((g) => g.name);
  const results: GroupSwitchResult[] = [];
  for (const name of names) results.push(await routerSwitch.status(name));
  return {
    exitCode: results.some((r) => r.alarm) ? 1 : 0,
    text: results.map(formatGroupResult).join('\n'),
    results,
  };
}
