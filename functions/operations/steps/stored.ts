/**
 * Plans stored by older code (`operation_plan.plan`, JSON in the coordination schema) lack fields the
 * planner sets today. A master that takes over or continues such an operation runs it with the value
 * the executor of that time inferred, so every handler reads its step alone.
 */
import { type OperationName, type Step, withRestoredRouters } from '../../core/planner.js';

/** Whether a stored step (JSON of any age) lacks `field`. */
const lacks = (step: Step, field: string): boolean => !(field in step);

/** The stored steps with today's fields, each filled as the older executor inferred it. */
export function upgradeStoredSteps(operation: OperationName, steps: readonly Step[]): Step[] {
  // Older plans had no RestoreRouters: the executor did it after a plan that started replicas.
  return withRestoredRouters(
    steps.map((step): Step => {
      // Older CatchUp: a switchover waited for the position of the plan's fenced server.
      if (step.kind === 'CatchUp' && lacks(step, 'waitFor')) {
        const fenced = steps.find((s) => s.kind === 'Fence');
        const waitFor =
          operation === 'switchover' && fenced?.kind === 'Fence'
            ? { kind: 'position-of' as const, server: fenced.server }
            : { kind: 'relay-log' as const };
        return { ...step, waitFor };
      }
      // Older StartReplication: a server the plan reseeded joined read-only, from gtid_slave_pos.
      if (step.kind === 'StartReplication' && lacks(step, 'gtidMode')) {
        const reseeded = steps.some((s) => s.kind === 'Reseed' && s.server === step.server);
        return { ...step, gtidMode: reseeded ? 'slave_pos' : 'current_pos', keepReadOnly: reseeded };
      }
      // Older Verify: an operation that promotes expecting a degraded cluster, a rejoin or a reopen
      // accepted a replica's matter left with its new primary (the promoted server, else the rejoin's).
      if (step.kind === 'Verify' && lacks(step, 'accept')) {
        const promoted = steps.find((s) => s.kind === 'Promote');
        const rejoined = operation === 'rejoin' ? steps.find((s) => s.kind === 'SwitchRouters') : undefined;
        const primary =
          promoted?.kind === 'Promote'
            ? promoted.server
            : rejoined?.kind === 'SwitchRouters'
              ? rejoined.to
              : null;
        const accepts = (step.expect !== 'Ok' || rejoined || operation === 'reopen') && primary;
        return { ...step, accept: accepts ? [{ kind: 'replica-matter', primary }] : [] };
      }
      return step;
    }),
  );
}

/** A stored plan with its steps upgraded (see upgradeStoredSteps). */
export function upgradeStoredPlan<T extends { operation: OperationName; steps: Step[] }>(stored: T): T {
  return { ...stored, steps: upgradeStoredSteps(stored.operation, stored.steps) };
}
