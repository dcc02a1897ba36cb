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

/**
 * Whether a step kind changes a server's role or data: none that does runs while any group's routers
 * are unknown (safety rule 7). One entry per kind, so a new step kind does not compile until it says.
 * Replication stops, starts and semi-sync settings change no data and no role a router could send
 * writes to; router steps and records change no server.
 */
const CHANGES_A_SERVER: { readonly [K in StepKind]: boolean } = {
  Fence: true,
  Promote: true,
  Salvage: true,
  Reseed: true,
  CatchUp: false,
  StopReplication: false,
  ResetReplication: false,
  SemiSync: false,
  StartReplication: false,
  WriteTarg: false,
  SwitchRouters: false,
  VerifyRouters: false,
  RestoreRouters: false,
  JoinElection: false,
  Verify: false,
  Alert: false,
  Hook: false,
};

export function changesAServer(kind: StepKind): boolean {
  return CHANGES_A_SERVER[kind];
}

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
