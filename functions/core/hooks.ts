/**
 * Operator hooks around a change of primary, pure: which hook runs where in a plan. A hook is a Lambda
 * function, an SSM document run on named instances, an SNS topic, or (the CLI, the sandbox) a local
 * command; operations/hooks.ts runs them. The step carries everything its handler needs: the hook, the
 * phase, and what it is told (operation, old and new primary).
 *
 * - `pre-failover`: the first step of a failover or a promote-dead, before anything is fenced. It may
 *   veto (the operation stops there, nothing changed); when it does not answer within `timeoutSeconds`
 *   `onNoAnswer` decides (default `proceed`: a dead hook service does not keep writes down).
 * - `post-failover` (failover, promote-dead) and `post-switchover`: right after the routers were
 *   verified on the new primary (what a DNS name, a VIP or a cache must follow), before the old primary's
 *   rebuild. Told, never asked: a failure is recorded as a warning, the operation goes on.
 *
 * Rules: functions/operations/README.md ("Hooks"); tests: test/unit/core/hooks.test.ts and the
 * scenarios `pre-hook-veto`, `post-hook-called`.
 */
import type { OperationName, Plan, Step } from './planner.js';
import type { ServerId } from './snapshot.js';

export type HookPhase = 'pre-failover' | 'post-failover' | 'post-switchover';

export interface HookSpec {
  via: 'command' | 'lambda' | 'ssm' | 'sns';
  /** The command line, the function name or ARN, the document name, or the topic ARN. */
  target: string;
  /** `ssm`: the instances the document runs on. */
  instanceIds?: string[];
  timeoutSeconds: number;
  /** pre-failover: what a hook that does not answer in time decides. */
  onNoAnswer: 'proceed' | 'veto';
}

/** The configured hooks (config `hooks`), one optional spec per phase. */
export type HooksConfig = Partial<Record<'preFailover' | 'postFailover' | 'postSwitchover', HookSpec>>;

export type HookStep = Extract<Step, { kind: 'Hook' }>;

const FAILOVERS: ReadonlySet<OperationName> = new Set<OperationName>(['failover', 'promote-dead']);

/** The plan with the configured hooks as steps; plans that move no primary are returned as they are. */
export function withHooks(p: Plan, hooks: HooksConfig): Plan {
  if (p.kind !== 'operation' || !p.operation) return p;
  const operation = p.operation;
  const failover = FAILOVERS.has(operation);
  const pre = failover ? hooks.preFailover : undefined;
  const post = failover ? hooks.postFailover : operation === 'switchover' ? hooks.postSwitchover : undefined;
  if (!pre && !post) return p;
  const from = p.steps.find((s) => s.kind === 'Fence')?.server ?? null;
  const to = p.steps.find((s) => s.kind === 'Promote')?.server ?? null;
  const hookStep = (phase: HookPhase, hook: HookSpec): Step => ({
    kind: 'Hook',
    phase,
    hook,
    operation,
    from,
    to,
    reason: p.reason,
    forced: p.forced !== undefined,
  });
  const steps: Step[] = [];
  if (pre) steps.push(hookStep('pre-failover', pre));
  let told = false;
  for (const s of p.steps) {
    steps.push(s);
    if (post && !told && s.kind === 'VerifyRouters') {
      steps.push(hookStep(failover ? 'post-failover' : 'post-switchover', post));
      told = true;
    }
  }
  if (post && !told) steps.push(hookStep(failover ? 'post-failover' : 'post-switchover', post));
  return { ...p, steps };
}

/** What a hook is told (the JSON on a command's stdin, a Lambda's event, the SSM `payload`, the SNS message). */
export interface HookPayload {
  source: 'mysql-failover.hook';
  phase: HookPhase;
  cluster: string;
  operation: OperationName;
  from: ServerId | null;
  to: ServerId | null;
  reason: string;
  forced: boolean;
  openedEpoch: number;
}

/** A configured hook (config `hooks.*`, validated by config/schema.ts): exactly one kind is set. */
export interface ConfiguredHook {
  command?: string | undefined;
  lambda?: string | undefined;
  ssmDocument?: string | undefined;
  instanceIds?: string[] | undefined;
  snsTopicArn?: string | undefined;
  timeoutSeconds: number;
  onNoAnswer?: 'proceed' | 'veto' | undefined;
}

function specOf(h: ConfiguredHook): HookSpec {
  const base = { timeoutSeconds: h.timeoutSeconds, onNoAnswer: h.onNoAnswer ?? ('proceed' as const) };
  if (h.command !== undefined) return { ...base, via: 'command', target: h.command };
  if (h.lambda !== undefined) return { ...base, via: 'lambda', target: h.lambda };
  if (h.ssmDocument !== undefined) {
    return { ...base, via: 'ssm', target: h.ssmDocument, instanceIds: h.instanceIds ?? [] };
  }
  return { ...base, via: 'sns', target: h.snsTopicArn ?? '' };
}

/** The step specs of the configured hooks. */
export function hookSpecs(
  configured: Partial<Record<keyof HooksConfig, ConfiguredHook | undefined>>,
): HooksConfig {
  const out: HooksConfig = {};
  for (const key of ['preFailover', 'postFailover', 'postSwitchover'] as const) {
    const h = configured[key];
    if (h) out[key] = specOf(h);
  }
  return out;
}
