/**
 * The step catalogue: one handler per step kind (core/planner.ts `Step`), grouped by concern. The
 * table is typed by kind, so a new step kind does not compile until it has a handler here.
 */
import type { Step } from '../../core/planner.js';
import type { StepResult } from '../server-steps.js';
import type { StepEnv, StepHandler, StepHandlers } from './env.js';
import { alertStep, hookStep } from './notify.js';
import { reseedStep, salvageStep, startReplicationStep } from './rebuild.js';
import {
  joinElectionStep,
  restoreRoutersStep,
  switchRoutersStep,
  verifyRoutersStep,
  writeTargStep,
} from './routers.js';
import {
  catchUpStep,
  fenceStep,
  promoteStep,
  resetReplicationStep,
  semiSyncStep,
  stopReplicationStep,
} from './server.js';
import { verifyStep } from './verify.js';

export const STEP_HANDLERS: StepHandlers = {
  Fence: fenceStep,
  CatchUp: catchUpStep,
  StopReplication: stopReplicationStep,
  ResetReplication: resetReplicationStep,
  Promote: promoteStep,
  SemiSync: semiSyncStep,
  WriteTarg: writeTargStep,
  SwitchRouters: switchRoutersStep,
  VerifyRouters: verifyRoutersStep,
  RestoreRouters: restoreRoutersStep,
  Salvage: salvageStep,
  Reseed: reseedStep,
  StartReplication: startReplicationStep,
  JoinElection: joinElectionStep,
  Verify: verifyStep,
  Alert: alertStep,
  Hook: hookStep,
};

/** Runs `step` with its kind's handler. */
export function handleStep(step: Step, env: StepEnv): Promise<StepResult> {
  const handler = STEP_HANDLERS[step.kind] as StepHandler<Step['kind']>;
  return handler(step as never, env);
}
