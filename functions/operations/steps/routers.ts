/**
 * Router work: the master's WriteTarg, SwitchRouters and VerifyRouters steps, and the switch and
 * check every participant does for its own groups (followers too, operations/execute.ts).
 */
import { delayedReplicas, fallbackOrder, promotionRules } from '../../core/policy.js';
import type { ServerId } from '../../core/snapshot.js';
import { errorMessage, RouterSwitchError } from '../../errors.js';
import { planDestinations } from '../../routers/cli.js';
import type { GroupSwitchResult } from '../../routers/types.js';
import { markFenced, readFenced } from '../journal.js';
import type { StepResult } from '../server-steps.js';
import type { RunEnv, StepHandler } from './env.js';

function okSwitch(r: GroupSwitchResult): boolean {
  return r.outcome === 'switched' || r.outcome === 'unchanged';
}

/**
 * Points routers at `to` with `exclude` kept out. The participant's own groups must switch (a
 * failure fails the step). With `scope: 'all'` (the operation master) every other group of the
 * cluster is switched too, in parallel: a group whose watchdog did not run, failed or could not reach
 * the coordination server is not left behind on the old destinations. Those are best effort: a
 * failure is a warning, and that group's own watchdog catches up (RoutersBehind -> rejoin).
 */
export async function switchRouters(
  env: RunEnv,
  to: ServerId,
  exclude: ServerId[],
  scope: 'own' | 'all',
): Promise<StepResult> {
  const servers = env.config.servers.map((s) => s.id);
  // Fallbacks in promotion order; `never` and delayed replicas are none (core/policy.ts).
  const ranked = fallbackOrder(
    servers,
    to,
    promotionRules(env.config.servers),
    delayedReplicas(env.snapshot.servers),
  );
  const destinations = planDestinations(ranked, to, exclude);
  const others =
    scope === 'all' ? env.config.groups.map((g) => g.name).filter((g) => !env.groups.includes(g)) : [];
  const request = { destinations, fenced: exclude, dryRun: false };
  const [own, rest] = await Promise.all([
    Promise.allSettled(env.groups.map((group) => env.deps.routers.switch(group, request))),
    Promise.allSettled(others.map((group) => env.deps.routers.switch(group, request))),
  ]);
  const results: GroupSwitchResult[] = [];
  own.forEach((settled, i) => {
    const group = env.groups[i]!;
    if (settled.status === 'rejected') throw settled.reason;
    const r = settled.value;
    results.push(r);
    if (!okSwitch(r)) {
      throw new RouterSwitchError(`group ${group}: routers ${r.outcome}: ${r.message}`, {
        details: { group, outcome: r.outcome },
      });
    }
  });
  rest.forEach((settled, i) => {
    const group = others[i]!;
    if (settled.status === 'fulfilled') results.push(settled.value);
    const problem =
      settled.status === 'rejected'
        ? errorMessage(settled.reason)
        : okSwitch(settled.value)
          ? null
          : `${settled.value.outcome}: ${settled.value.message}`;
    if (problem) env.result.warnings.push(`routers of group ${group} not switched to ${to}: ${problem}`);
  });
  return {
    detail: `${[...env.groups, ...others].join(', ')} -> ${destinations.join(', ')}${exclude.length ? ` (fenced: ${exclude.join(', ')})` : ''}: ${results.map((r) => `${r.group} ${r.outcome}`).join(', ')}`,
    data: {
      destinations,
      fenced: exclude,
      results: results.map((r) => ({ group: r.group, outcome: r.outcome, durationMs: r.durationMs })),
    },
  };
}

/** Queries through this participant's routers until every one lands on `to`. */
export async function verifyOwnRouters(env: RunEnv, to: ServerId): Promise<StepResult> {
  let last = '';
  for (let attempt = 0; attempt < 40; attempt++) {
    const snap = await env.deps.observe();
    const mine = snap.routers.filter((r) => env.groups.includes(r.group));
    const wrong = mine.filter((r) => r.routesTo !== to);
    if (mine.length > 0 && wrong.length === 0) {
      return { detail: `${mine.length} router(s) of ${env.groups.join(', ')} land on ${to}` };
    }
    last = wrong
      .map((r) => `${r.group}/${r.id} -> ${r.routesTo ?? r.error?.message ?? 'nothing'}`)
      .join('; ');
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new RouterSwitchError(`routers do not land on ${to}: ${last}`);
}

export const writeTargStep: StepHandler<'WriteTarg'> = async (step, env) => {
  await env.ctx.writeTarg(step.server);
  return { detail: `TARG ${step.server}` };
};

export const switchRoutersStep: StepHandler<'SwitchRouters'> = async (step, env) => {
  for (const s of step.exclude)
    await markFenced(env.db, s, env.ctx.openedEpoch, `kept out of routers by ${env.operation}`);
  // Every server the watchdog fenced and has not rebuilt stays out, not only the plan's.
  const fencedNow = (await readFenced(env.db)).filter((s) => s !== step.to);
  return switchRouters(env, step.to, [...new Set([...step.exclude, ...fencedNow])], 'all');
};

export const verifyRoutersStep: StepHandler<'VerifyRouters'> = async (step, env) =>
  verifyOwnRouters(env, step.to);

/**
 * The servers the operation started replicating go back into every group's routers as fallbacks
 * behind the primary (read-only: a router that falls back to one gets no write through until the
 * watchdog promotes it). Servers still fenced stay out. A failure is a warning: the operation is done
 * and the routers still point at the primary; the next switch or an operator adds the fallback.
 */
export async function restoreRouters(env: RunEnv, to: ServerId, scope: 'own' | 'all'): Promise<StepResult> {
  try {
    const fencedNow = (await readFenced(env.db)).filter((s) => s !== to);
    return await switchRouters(env, to, fencedNow, scope);
  } catch (error) {
    const problem = `rebuilt server not re-added to the routers: ${errorMessage(error)}`;
    env.result.warnings.push(problem);
    return { outcome: 'skipped', detail: problem };
  }
}

export const restoreRoutersStep: StepHandler<'RestoreRouters'> = async (step, env) =>
  restoreRouters(env, step.to, 'all');

export const joinElectionStep: StepHandler<'JoinElection'> = async () => ({
  outcome: 'skipped',
  detail: 'joined the election',
});
