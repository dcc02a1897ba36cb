/**
 * RouterSwitch through SSM Run Command: one SendCommand of the RouterSwitch document to every instance
 * of the group (by tag or by instance ids), ListCommandInvocations polled with backoff until every
 * invocation is terminal, per-instance results parsed from the script's JSON line, the failed instances
 * retried once, and the group flagged for an alarm when it is still not fully switched.
 */
import {
  type CommandInvocation,
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  ListCommandsCommand,
  SendCommandCommand,
  type SendCommandCommandInput,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { errorMessage, RouterSwitchError } from '../errors.js';
import {
  type ApplyMode,
  type DocumentParameterValues,
  type RouterKind,
  validateSwitchParameters,
} from './parameters.js';
import { describeGroup, groupOutcome, parseScriptOutput, routerOutcome } from './result.js';
import { STEP_NAME } from './ssm-document.js';
import type {
  GroupSwitchResult,
  RouterAlerter,
  RouterResult,
  RouterSwitch,
  RouterSwitchRequest,
} from './types.js';

/** Where a group's routers are and how they are configured (the same on every instance of the group). */
export interface SsmGroupTarget {
  routerKind: RouterKind;
  configPath: string;
  section?: string;
  /** EC2 tag that marks the group's backends: `Key=tag:<key>,Values=<value>`. */
  tag?: { key: string; value: string };
  /** Or the instance ids themselves (at most 50 per SendCommand). */
  instanceIds?: readonly string[];
  applyMode?: ApplyMode;
  serviceName?: string;
  /** The router's own address on the instance (e.g. 127.0.0.1:6446); empty: read from the config. */
  verifyAddress?: string;
  verifyDefaultsFile?: string;
  verifyTimeoutSeconds?: number;
}

export interface SsmRouterSwitchOptions {
  client: Pick<SSMClient, 'send'>;
  /**
   * Base name of the RouterSwitch documents: the document of a router kind is `<documentName>-<kind>`,
   * created from infra/ssm/router-switch-<kind>.json (one document per kind: see ssm-document.ts).
   */
  documentName: string;
  documentVersion?: string;
  groups: Readonly<Record<string, SsmGroupTarget>>;
  /**
   * All routers at once by default: during a failover every router still pointing at the old primary
   * is an outage, and the script verifies and rolls back each one on its own.
   */
  maxConcurrency?: string;
  /**
   * Never stop at the first errors (default 100%): a stopped command leaves the remaining routers on
   * the fenced server. Failures are retried once and then alarmed.
   */
  maxErrors?: string;
  /** SendCommand TimeoutSeconds: how long an instance may take to pick the command up. */
  deliveryTimeoutSeconds?: number;
  /** The script's own limit on the instance (document parameter ExecutionTimeout). */
  executionTimeoutSeconds?: number;
  /** CloudWatch Logs group for the full output; omitted: no CloudWatch output. */
  cloudWatchLogGroup?: string;
  /** Polling backoff. */
  poll?: { initialMs?: number; maxMs?: number; factor?: number };
  /** Retries of a throttled SSM call (the SDK's own retries come first). */
  throttleRetries?: number;
  /** Retry the failed instances once (default true). */
  retryFailed?: boolean;
  alerter?: RouterAlerter;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/** The name of the document of one router kind. */
export function documentNameFor(baseName: string, kind: string): string {
  return `${baseName}-${kind}`;
}

const TERMINAL = new Set(['Success', 'Cancelled', 'TimedOut', 'Failed']);
const THROTTLE_NAMES = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'TooManyUpdates',
]);

export function isThrottle(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as {
    name?: string;
    $retryable?: { throttling?: boolean };
    $metadata?: { httpStatusCode?: number };
  };
  return (
    THROTTLE_NAMES.has(e.name ?? '') ||
    e.$retryable?.throttling === true ||
    e.$metadata?.httpStatusCode === 429
  );
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface CommandTargets {
  tag?: { key: string; value: string };
  instanceIds?: readonly string[];
}

export class SsmRouterSwitch implements RouterSwitch {
  private readonly options: SsmRouterSwitchOptions;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;

  constructor(options: SsmRouterSwitchOptions) {
    this.options = options;
    this.sleep = options.sleep ?? defaultSleep;
    this.now = options.now ?? Date.now;
  }

  async switch(group: string, request: RouterSwitchRequest): Promise<GroupSwitchResult> {
    return this.run(group, 'switch', request);
  }

  async status(group: string): Promise<GroupSwitchResult> {
    return this.run(group, 'status', { destinations: [], dryRun: false });
  }

  private target(group: string): SsmGroupTarget {
    const target = this.options.groups[group];
    if (!target) throw new RouterSwitchError(`no SSM router target configured for group ${group}`);
    if (!target.tag && (!target.instanceIds || target.instanceIds.length === 0)) {
      throw new RouterSwitchError(`group ${group} has neither an EC2 tag nor instance ids to target`);
    }
    if (target.instanceIds && target.instanceIds.length > 50) {
      throw new RouterSwitchError(`group ${group} lists more than 50 instance ids; target it by tag`);
    }
    for (const id of target.instanceIds ?? []) {
      if (!/^(i|mi)-[0-9a-f]{8,17}$/.test(id)) throw new RouterSwitchError(`invalid instance id ${id}`);
    }
    if (target.tag && !/^[A-Za-z0-9_.:/=+@ -]{1,128}$/.test(target.tag.key)) {
      throw new RouterSwitchError(`invalid tag key ${target.tag.key}`);
    }
    return target;
  }

  private async run(
    group: string,
    action: 'switch' | 'status',
    request: RouterSwitchRequest,
  ): Promise<GroupSwitchResult> {
    const started = this.now();
    const target = this.target(group);
    // Everything is validated before the first call: a bad value never reaches SSM.
    const parameters = validateSwitchParameters({
      action,
      routerKind: target.routerKind,
      configPath: target.configPath,
      section: target.section,
      destinations: request.destinations,
      fenced: request.fenced,
      dryRun: request.dryRun,
      applyMode: target.applyMode,
      serviceName: target.serviceName,
      verifyAddress: target.verifyAddress,
      verifyDefaultsFile: target.verifyDefaultsFile,
      verifyTimeoutSeconds: target.verifyTimeoutSeconds,
      executionTimeoutSeconds: this.options.executionTimeoutSeconds,
    });
    const commandIds: string[] = [];
    let routers: RouterResult[] = [];
    let message = '';
    try {
      const first = await this.runCommand(
        group,
        { tag: target.tag, instanceIds: target.instanceIds },
        parameters,
      );
      commandIds.push(first.commandId);
      routers = first.results;
      const failed = routers.filter((r) => !r.ok).map((r) => r.target);
      if (failed.length > 0 && this.options.retryFailed !== false) {
        const retry = await this.runCommand(group, { instanceIds: failed }, parameters);
        commandIds.push(retry.commandId);
        const byTarget = new Map(retry.results.map((r) => [r.target, r]));
        routers = routers.map((r) => {
          const again = byTarget.get(r.target);
          return again
            ? { ...again, attempts: 2 }
            : { ...r, attempts: 2, error: r.error ?? 'no result from the retry' };
        });
      }
    } catch (error) {
      message = `SSM Run Command failed: ${errorMessage(error)}`;
    }
    const { outcome, alarm } = message
      ? { outcome: routers.length > 0 ? ('partial' as const) : ('failed' as const), alarm: true }
      : groupOutcome(action, routers);
    const result: GroupSwitchResult = {
      group,
      action,
      outcome,
      alarm,
      destinations: [...request.destinations],
      fenced: [...(request.fenced ?? [])],
      dryRun: request.dryRun,
      routers,
      commandIds,
      message: '',
      durationMs: 0,
    };
    result.message = message ? `${describeGroup(result)}; ${message}` : describeGroup(result);
    if (outcome === 'no-targets') result.message += ': no instance matched the target';
    result.durationMs = this.now() - started;
    if (alarm && this.options.alerter) {
      try {
        await this.options.alerter.alert(result);
      } catch (error) {
        result.message += `; raising the alarm failed too: ${errorMessage(error)}`;
      }
    }
    return result;
  }

  /** Retries throttled calls with exponential backoff and jitter; anything else is thrown at once. */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    const retries = this.options.throttleRetries ?? 6;
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (error) {
        if (!isThrottle(error) || attempt >= retries) throw error;
        const base = Math.min(200 * 2 ** attempt, 5_000);
        await this.sleep(base / 2 + Math.random() * (base / 2));
      }
    }
  }

  private async runCommand(
    group: string,
    targets: CommandTargets,
    parameters: DocumentParameterValues,
  ): Promise<{ commandId: string; results: RouterResult[] }> {
    const input: SendCommandCommandInput = {
      DocumentName: documentNameFor(this.options.documentName, parameters.RouterKind),
      DocumentVersion: this.options.documentVersion,
      // Empty values are left to the document's defaults (all of them ''): SSM need not accept [''].
      Parameters: Object.fromEntries(
        Object.entries(parameters)
          .filter(([, v]) => v !== '')
          .map(([k, v]) => [k, [v]]),
      ),
      MaxConcurrency: this.options.maxConcurrency ?? '100%',
      MaxErrors: this.options.maxErrors ?? '100%',
      TimeoutSeconds: this.options.deliveryTimeoutSeconds ?? 60,
      Comment: `mysql-failover ${parameters.Action} group ${group}`.slice(0, 100),
    };
    if (targets.instanceIds && targets.instanceIds.length > 0 && !targets.tag) {
      input.InstanceIds = [...targets.instanceIds];
    } else if (targets.tag) {
      input.Targets = [{ Key: `tag:${targets.tag.key}`, Values: [targets.tag.value] }];
    } else if (targets.instanceIds) {
      input.InstanceIds = [...targets.instanceIds];
    }
    if (this.options.cloudWatchLogGroup) {
      input.CloudWatchOutputConfig = {
        CloudWatchOutputEnabled: true,
        CloudWatchLogGroupName: this.options.cloudWatchLogGroup,
      };
    }
    const sent = await this.call(() => this.options.client.send(new SendCommandCommand(input)));
    const commandId = sent.Command?.CommandId;
    if (!commandId) throw new RouterSwitchError('SendCommand returned no command id');
    const invocations = await this.waitForCommand(commandId, Number(parameters.ExecutionTimeout));
    const results: RouterResult[] = [];
    for (const invocation of invocations) results.push(await this.toResult(commandId, invocation));
    return { commandId, results };
  }

  /** Polls until every invocation is terminal (or the command's own limits have passed). */
  private async waitForCommand(
    commandId: string,
    executionTimeoutSeconds: number,
  ): Promise<CommandInvocation[]> {
    const poll = this.options.poll ?? {};
    let delay = poll.initialMs ?? 500;
    const deadline =
      this.now() + ((this.options.deliveryTimeoutSeconds ?? 60) + executionTimeoutSeconds + 30) * 1000;
    for (;;) {
      const invocations = await this.listInvocations(commandId);
      const allTerminal = invocations.every((i) => TERMINAL.has(i.Status ?? ''));
      if (allTerminal) {
        // Tag targets resolve asynchronously: the invocation list may be incomplete until the command
        // itself is done (or its target count is reached).
        const command = await this.describeCommand(commandId);
        const commandDone = command !== undefined && TERMINAL.has(command.Status ?? '');
        const targetCount = command?.TargetCount ?? 0;
        if (commandDone || (invocations.length > 0 && invocations.length >= targetCount)) {
          return commandDone && invocations.length < targetCount
            ? await this.listInvocations(commandId)
            : invocations;
        }
      }
      if (this.now() >= deadline) return invocations;
      await this.sleep(delay);
      // At most a second between polls: the switch is on the failover's critical path (writes wait for
      // it), and ListCommandInvocations costs nothing; a 5 s cap showed a 4.7 s switch only at 7.9 s.
      delay = Math.min(delay * (poll.factor ?? 1.6), poll.maxMs ?? 1_000);
    }
  }

  private async listInvocations(commandId: string): Promise<CommandInvocation[]> {
    const all: CommandInvocation[] = [];
    let token: string | undefined;
    do {
      const page = await this.call(() =>
        this.options.client.send(
          new ListCommandInvocationsCommand({
            CommandId: commandId,
            Details: true,
            NextToken: token,
            MaxResults: 50,
          }),
        ),
      );
      all.push(...(page.CommandInvocations ?? []));
      token = page.NextToken;
    } while (token);
    return all;
  }

  private async describeCommand(commandId: string) {
    const listed = await this.call(() =>
      this.options.client.send(new ListCommandsCommand({ CommandId: commandId })),
    );
    return listed.Commands?.[0];
  }

  private async toResult(commandId: string, invocation: CommandInvocation): Promise<RouterResult> {
    const target = invocation.InstanceId ?? 'unknown';
    const status = invocation.Status ?? 'Unknown';
    const plugin =
      invocation.CommandPlugins?.find((p) => p.Name === STEP_NAME) ?? invocation.CommandPlugins?.[0];
    let parsed = parseScriptOutput(plugin?.Output ?? '');
    if (parsed === null && TERMINAL.has(status) && status !== 'Cancelled') {
      // ListCommandInvocations cuts plugin output at 2,500 characters; GetCommandInvocation gives 24,000.
      try {
        const full = await this.call(() =>
          this.options.client.send(
            new GetCommandInvocationCommand({
              CommandId: commandId,
              InstanceId: target,
              PluginName: STEP_NAME,
            }),
          ),
        );
        parsed = parseScriptOutput(full.StandardOutputContent ?? '');
      } catch {
        // keep parsed null: reported as failed below
      }
    }
    const exitCode = plugin?.ResponseCode ?? null;
    const effectiveExit =
      status === 'Success' ? (exitCode ?? 0) : exitCode === null || exitCode === 0 ? -1 : exitCode;
    const { ok, outcome } = routerOutcome(effectiveExit, parsed);
    const result: RouterResult = {
      target,
      ok,
      outcome,
      attempts: 1,
      exitCode,
      invocationStatus: invocation.StatusDetails ?? status,
      result: parsed,
    };
    if (!ok) {
      result.error =
        parsed?.message ??
        `invocation ${invocation.StatusDetails ?? status}${parsed === null ? ' without a result line' : ''}`;
    }
    return result;
  }
}
