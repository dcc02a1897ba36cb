/**
 * Plans stored by older code (`operation_plan.plan`, JSON in the coordination schema) lack fields the
 * planner sets today. A master that takes over or continues such an operation runs it with the value
 * the executor of that time inferred, so every handler reads its step alone.
 */
import type { OperationName, Step } from '../../core/planner.js';

/** The stored steps with today's fields, each filled as the older executor inferred it. */
export function upgradeStoredSteps(operation: OperationName, steps: readonly Step[]): Step[] {
  return steps.map((step) => {
    // Older CatchUp: a switchover waited for the position of the plan's fenced server.
    if (step.kind === 'CatchUp' && !('waitFor' in step)) {
      const fenced = steps.find((s) => s.kind === 'Fence');
      const waitFor =
        operation === 'switchover' && fenced?.kind === 'Fence'
          ? { kind: 'position-of' as const, server: fenced.server }
          : { kind: 'relay-log' as const };
      return { ...(step as Step), waitFor };
    }
    return step;
  });
}

/** A stored plan with its steps upgraded (see upgradeStoredSteps). */
export function upgradeStoredPlan<T extends { operation: OperationName; steps: Step[] }>(stored: T): T {
  return { ...stored, steps: upgradeStoredSteps(stored.operation, stored.steps) };
}
