/**
 * The router script's JSON result line (schema router-switch/1), parsed and checked once, and the
 * pure rules that turn per-router results into a group outcome.
 */
import { z } from 'zod';
import type { GroupOutcome, GroupSwitchResult, RouterOutcome, RouterResult } from './types.js';

export const scriptResultSchema = z.object({
  schema: z.literal('router-switch/1'),
  ok: z.boolean(),
  action: z.string(),
  kind: z.string(),
  host: z.string(),
  config: z.string(),
  section: z.string(),
  dryRun: z.boolean(),
  changed: z.boolean(),
  alreadyInPlace: z.boolean(),
  validated: z.boolean(),
  applied: z.string(),
  backup: z.string(),
  previous: z.array(z.string()),
  destinations: z.array(z.string()),
  fenced: z.array(z.string()),
  runtime: z.array(z.string()),
  verify: z.object({
    status: z.enum(['ok', 'failed', 'skipped', 'answered']),
    through: z.string(),
    expected: z.string(),
    answered: z.string(),
  }),
  rolledBack: z.boolean(),
  warnings: z.array(z.string()),
  message: z.string(),
  durationMs: z.number(),
});

export type ScriptResult = z.output<typeof scriptResultSchema>;

const MARKER = '{"schema":"router-switch/1"';

/** The last result line in a script's stdout (SSM output may carry stderr after it), or null. */
export function parseScriptOutput(output: string): ScriptResult | null {
  const lines = output.split('\n').filter((line) => line.startsWith(MARKER));
  for (const line of lines.reverse()) {
    try {
      const parsed = scriptResultSchema.safeParse(JSON.parse(line));
      if (parsed.success) return parsed.data;
    } catch {
      // a truncated line (SSM cuts plugin output): try an earlier one, else the caller fetches more
    }
  }
  return null;
}

/** One router's outcome from the script's exit code and result line. */
export function routerOutcome(
  exitCode: number | null,
  result: ScriptResult | null,
): { ok: boolean; outcome: RouterOutcome } {
  if (result === null || exitCode !== 0 || !result.ok) {
    return { ok: false, outcome: exitCode === 6 ? 'needs-human' : 'failed' };
  }
  if (result.action === 'status') return { ok: true, outcome: 'status' };
  if (result.dryRun) return { ok: true, outcome: 'dry-run' };
  if (result.alreadyInPlace || !result.changed) return { ok: true, outcome: 'unchanged' };
  return { ok: true, outcome: 'switched' };
}

/** The group's outcome: a group is only "switched" when every router is. */
export function groupOutcome(
  action: 'switch' | 'status',
  routers: readonly RouterResult[],
): { outcome: GroupOutcome; alarm: boolean } {
  if (routers.length === 0) return { outcome: 'no-targets', alarm: true };
  const failed = routers.filter((r) => !r.ok).length;
  if (failed === routers.length) return { outcome: 'failed', alarm: true };
  if (failed > 0) return { outcome: 'partial', alarm: true };
  if (action === 'status') return { outcome: 'status', alarm: false };
  if (routers.every((r) => r.outcome === 'dry-run' || r.outcome === 'unchanged')) {
    return { outcome: routers.some((r) => r.outcome === 'dry-run') ? 'dry-run' : 'unchanged', alarm: false };
  }
  return { outcome: 'switched', alarm: false };
}

/** A one-line summary for logs and alarms. */
export function describeGroup(
  result: Pick<GroupSwitchResult, 'group' | 'outcome' | 'routers' | 'destinations'>,
): string {
  const bad = result.routers.filter((r) => !r.ok);
  const base = `group ${result.group}: ${result.outcome}`;
  const to = result.destinations.length > 0 ? ` (to ${result.destinations[0]})` : '';
  if (bad.length === 0) return `${base}${to}, ${result.routers.length} router(s)`;
  const detail = bad
    .map((r) => `${r.target}: ${r.result?.message ?? r.error ?? r.invocationStatus ?? 'failed'}`)
    .join('; ');
  return `${base}${to}, ${bad.length} of ${result.routers.length} router(s) failed: ${detail}`;
}
