/**
 * The runner's check before a step that changes a server: the plan was made from an observation
 * taken before the operation, and routers move meanwhile.
 */
import { observeRouters, sendingTo } from '../../cluster/routed.js';
import type { Config } from '../../config/schema.js';
import { unknownRouterGroups } from '../../core/analysis.js';
import type { Step, StepKind } from '../../core/planner.js';
import type { ServerId } from '../../core/snapshot.js';
import { SafetyRefusalError } from '../../errors.js';

/** Steps that change a server: none runs while any group's routers are unknown (safety rule 7). */
export const CHANGES_A_SERVER: ReadonlySet<StepKind> = new Set<StepKind>([
  'Fence',
  'Promote',
  'Salvage',
  'Reseed',
]);

/**
 * Looks through every router of every group again, right before a step that changes a server.
 * - Safety rule 7: while any group's routers are unknown (none answers), nobody knows where its writes
 *   go, so no server is changed.
 * - Safety rule 3 (`notRoutedTo`): a server that any router of any group sends new connections to takes
 *   writes, so it is never overwritten (found in the chaos suite: a group whose router had not been
 *   switched yet planned a recover that would have reseeded the new primary).
 */
export async function guardServerChange(
  config: Config,
  step: Step,
  cred: { user: string; password: string },
  notRoutedTo?: ServerId,
): Promise<void> {
  const snapshot = await observeRouters(config, cred);
  // A group left without any router (its discovery found no instance) is as unknown as one whose
  // routers do not answer: the router observation alone carries no discovery, so it is stated here.
  const unknown = unknownRouterGroups({
    ...snapshot,
    discovery:
      snapshot.discovery ??
      config.groups.map((g) => ({
        group: g.name,
        source: g.ec2Tag ? ('ec2-tag' as const) : ('config' as const),
        found: g.routers.length,
      })),
  });
  if (unknown.length > 0) {
    throw new SafetyRefusalError(
      `refusing ${step.kind}: the routers of ${unknown.map((u) => `group ${u.group} (${u.reason})`).join(', ')} are unknown`,
      { details: { step: step.kind, unknown } },
    );
  }
  if (notRoutedTo === undefined) return;
  const routed = sendingTo(snapshot, notRoutedTo);
  if (routed.length > 0) {
    throw new SafetyRefusalError(
      `refusing to reseed ${notRoutedTo}: ${routed.map((r) => `router ${r}`).join(', ')} send(s) new connections to it`,
      { details: { server: notRoutedTo, routers: routed } },
    );
  }
}
