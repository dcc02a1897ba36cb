/** Steps that tell: an alert in the log, an operator hook (operations/hooks.ts). */
import { hookRunner, runHookStep } from '../hooks.js';
import type { StepHandler } from './env.js';

export const alertStep: StepHandler<'Alert'> = async (step, env) => {
  env.log('alert', { severity: step.severity, message: step.message });
  return { detail: step.message };
};

export const hookStep: StepHandler<'Hook'> = async (step, env) =>
  runHookStep(step, env.deps.hooks ?? hookRunner, {
    cluster: env.config.clusterName,
    openedEpoch: env.ctx.openedEpoch,
    signal: env.ctx.signal,
    warn: (text) => env.result.warnings.push(text),
  });
