/** Handlers of the steps that change one server's state (operations/server-steps.ts does the SQL). */
import { errorMessage } from '../../errors.js';
import type { ServerAdmin } from '../admin.js';
import { markFenced } from '../journal.js';
import { catchUp, fence, promote, resetReplication, setSemiSync, stopReplication } from '../server-steps.js';
import type { StepHandler } from './env.js';

export const fenceStep: StepHandler<'Fence'> = async (step, env) => {
  let admin: ServerAdmin;
  try {
    admin = await env.pool.get(step.server);
  } catch (error) {
    if (step.ifReachable) {
      await markFenced(env.db, step.server, env.ctx.openedEpoch, 'unreachable; fence when it returns');
      return {
        outcome: 'skipped',
        detail: `${step.server} unreachable (${errorMessage(error)}); kept out of every router until rebuilt`,
      };
    }
    throw error;
  }
  const r = await fence(admin, [env.cred.user], { watchdogWritable: step.server === env.coordinationId });
  await markFenced(env.db, step.server, env.ctx.openedEpoch, `fenced by ${env.operation}`);
  return r;
};

export const catchUpStep: StepHandler<'CatchUp'> = async (step, env) => {
  const timeout = env.deps.catchUpTimeoutSeconds ?? 60;
  if (step.waitFor.kind === 'position-of') {
    const old = await env.pool.get(step.waitFor.server);
    const [g] = await old.query<Record<string, unknown>>(
      `SELECT @@global.${old.flavor.executedGtidVariable()} AS pos`,
    );
    return catchUp(await env.pool.get(step.server), timeout, String(g?.pos ?? ''));
  }
  return catchUp(await env.pool.get(step.server), timeout);
};

export const stopReplicationStep: StepHandler<'StopReplication'> = async (step, env) =>
  stopReplication(await env.pool.get(step.server));

export const resetReplicationStep: StepHandler<'ResetReplication'> = async (step, env) =>
  resetReplication(await env.pool.get(step.server));

export const promoteStep: StepHandler<'Promote'> = async (step, env) =>
  promote(await env.pool.get(step.server));

export const semiSyncStep: StepHandler<'SemiSync'> = async (step, env) =>
  setSemiSync(await env.pool.get(step.server), step.role);
