/**
 * The console's maintenance request (triggers/events.ts `parseMaintenanceEvent`), run by the Lambda
 * handler without a cycle. Loaded on first use, like the operations.
 */
import type { Config } from '../config/schema.js';
import type { MaintenanceCommand } from '../triggers/events.js';

export async function runMaintenanceCommand(
  config: Config,
  command: MaintenanceCommand,
  now: number,
): Promise<{ ok: boolean; maintenance: unknown }> {
  const m = await import('./maintenance.js');
  const by = 'console';
  if (command.op === 'list') return { ok: true, maintenance: await m.listMaintenance(config, now) };
  const scope = command.scope!;
  const result =
    command.op === 'start'
      ? await m.startMaintenance(config, {
          scope,
          by,
          now,
          ...(command.reason !== undefined ? { reason: command.reason } : {}),
          ...(command.minutes !== undefined ? { minutes: command.minutes } : {}),
        })
      : await m.endMaintenance(config, { scope, by, now });
  return { ok: true, maintenance: result };
}
