/**
 * Maintenance windows started and ended by an operator (CLI `repl-watchdog maintenance`, or the console
 * event `{"action": "maintenance", ...}`), stored through control-store.ts on every server that answers.
 * What a window does to a plan is decided in core/policy.ts (`applyMaintenance`).
 */
import type { Config } from '../config/schema.js';
import { activeMaintenance, type MaintenanceWindow } from '../core/policy.js';
import { DbError, UsageError } from '../errors.js';
import {
  type ControlEntry,
  maintenanceKey,
  readControl,
  type WriteResult,
  writeControl,
} from './control-store.js';

export const MAX_MAINTENANCE_MINUTES = 7 * 24 * 60;
export const DEFAULT_MAINTENANCE_MINUTES = 60;

export interface MaintenanceRequest {
  /** `cluster`, a server's `host:port`, or its configured name. */
  scope: string;
  reason?: string;
  minutes?: number;
  by: string;
  now: number;
}

export interface MaintenanceResult {
  window: MaintenanceWindow;
  write: WriteResult;
  /** Set when the window is on fewer than two servers of a cluster of several (loss of one loses it). */
  warning?: string;
}

/** The scope as stored: `cluster` or a configured server's id (a name is resolved). */
export function resolveScope(config: Config, scope: string): string {
  if (scope === 'cluster') return scope;
  const s = config.servers.find((x) => x.id === scope || x.name === scope);
  if (!s) {
    throw new UsageError(
      `maintenance scope "${scope}" is neither "cluster" nor a configured server (${config.servers.map((x) => x.id).join(', ')})`,
    );
  }
  return s.id;
}

async function store(
  config: Config,
  window: MaintenanceWindow,
  now: number,
  by: string,
): Promise<MaintenanceResult> {
  const entry: ControlEntry = {
    key: maintenanceKey(window.scope),
    kind: 'maintenance',
    body: window,
    versionMs: now,
    writtenBy: by,
  };
  const write = await writeControl(config, [entry]);
  if (write.writtenTo.length === 0) {
    throw new DbError(
      `maintenance not stored: no server accepted it (${write.failed.map((f) => `${f.server}: ${f.error}`).join('; ')})`,
    );
  }
  const few = config.servers.length >= 2 && write.writtenTo.length < 2;
  return {
    window,
    write,
    ...(few
      ? { warning: `stored on ${write.writtenTo.join(', ')} only: losing that server loses the window` }
      : {}),
  };
}

export async function startMaintenance(config: Config, req: MaintenanceRequest): Promise<MaintenanceResult> {
  const minutes = req.minutes ?? DEFAULT_MAINTENANCE_MINUTES;
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > MAX_MAINTENANCE_MINUTES) {
    throw new UsageError(
      `maintenance minutes must be a whole number from 1 to ${MAX_MAINTENANCE_MINUTES} (got ${minutes})`,
    );
  }
  const reason = (req.reason ?? '').trim();
  if (reason === '') throw new UsageError('maintenance needs a reason (--reason "...")');
  const window: MaintenanceWindow = {
    scope: resolveScope(config, req.scope),
    reason: reason.slice(0, 500),
    startedAt: req.now,
    expiresAt: req.now + minutes * 60_000,
    endedAt: null,
    by: req.by,
  };
  return store(config, window, req.now, req.by);
}

export async function endMaintenance(
  config: Config,
  req: Omit<MaintenanceRequest, 'reason' | 'minutes'>,
): Promise<MaintenanceResult> {
  const scope = resolveScope(config, req.scope);
  const current = activeMaintenance((await readControl(config)).maintenance, req.now).find(
    (w) => w.scope === scope,
  );
  if (!current) throw new UsageError(`no maintenance window in force for ${scope}`);
  return store(config, { ...current, endedAt: req.now }, req.now, req.by);
}

export async function listMaintenance(
  config: Config,
  now: number,
): Promise<{
  active: MaintenanceWindow[];
  readFrom: string[];
  unreadable: Array<{ server: string; error: string }>;
}> {
  const state = await readControl(config, { repair: true });
  return {
    active: activeMaintenance(state.maintenance, now),
    readFrom: state.readFrom,
    unreadable: state.unreadable,
  };
}

function describe(w: MaintenanceWindow): string {
  return `${w.scope === 'cluster' ? 'cluster' : w.scope}: until ${new Date(w.expiresAt).toISOString()}, ${w.reason} (started ${new Date(w.startedAt).toISOString()} by ${w.by})`;
}

export function formatMaintenanceList(list: Awaited<ReturnType<typeof listMaintenance>>): string {
  const lines = list.active.length === 0 ? ['no maintenance window in force'] : list.active.map(describe);
  lines.push(`read from ${list.readFrom.join(', ') || 'no server'}`);
  for (const u of list.unreadable) lines.push(`not read: ${u.server}: ${u.error}`);
  return lines.join('\n');
}

export function formatMaintenanceResult(what: 'start' | 'end', r: MaintenanceResult): string {
  const lines = [
    `${what === 'start' ? 'maintenance started' : 'maintenance ended'}: ${describe(r.window)}`,
    `stored on ${r.write.writtenTo.join(', ')}`,
    ...r.write.failed.map((f) => `not stored on ${f.server}: ${f.error}`),
    ...(r.warning ? [`warning: ${r.warning}`] : []),
  ];
  return lines.join('\n');
}
