/**
 * The ways the watchdog is started, turned into one `Invocation`:
 *   - the EventBridge schedule (every 10 minutes; our rule's constant input, or a raw Scheduled Event),
 *   - a backend watcher's "Router Primary Down" event (infra/watcher/watcher.sh): a check, at once,
 *   - a manual invoke from the console: {"action", "group", "dryRun", "force", "target", "allowDataLoss",
 *     "reason"},
 *   - a CloudWatch alarm: the EventBridge "CloudWatch Alarm State Change" event, or the alarm wrapped in SNS.
 * Anything else is refused with a message that says what was wrong and what is accepted.
 */
import { z } from 'zod';
import { EventValidationError } from '../errors.js';

export const ACTIONS = ['check', 'status', 'failover', 'recover', 'switchover'] as const;
export type Action = (typeof ACTIONS)[number];

export interface Invocation {
  trigger: 'schedule' | 'console' | 'alarm' | 'cli' | 'continuation' | 'watcher';
  action: Action;
  /** The backend group this invocation serves; undefined = the function's own (env GROUP). */
  group: string | undefined;
  dryRun: boolean;
  force: boolean;
  /** For alarms: which alarm and its new state. */
  alarm?: { name: string; state: string; reason?: string };
  /** For watcher events: which backend saw what, and when EventBridge received it. */
  watcher?: WatcherReport;
  /** For continuations: the operation to resume. */
  resume?: Record<string, unknown>;
  /**
   * switchover: the server to promote (host:port); default: the only healthy replica. A forced failover
   * or switchover needs it (core/force.ts).
   */
  target?: string;
  /** With `force`: promote the target although another reachable server holds transactions it lacks. */
  allowDataLoss?: boolean;
  /** With `force`: the operator's reason, recorded with the operation. */
  reason?: string;
  /**
   * Console failover/switchover/recover: the caller's request id. A repeat within the idempotency
   * window returns the first result and changes nothing (triggers/idempotency.ts).
   */
  requestId?: string;
}

/** One backend's word that its router saw the primary go down: only ever a reason to look now. */
export interface WatcherReport {
  backend: string;
  routerKind: string;
  primary: string;
  reason: string;
  /** The EventBridge envelope's `time` (set by EventBridge on receipt, whole seconds), in ms. */
  receivedAtMs: number;
}

const groupName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'must be a group name');

const consoleEvent = z
  .object({
    action: z.enum(ACTIONS, { message: `must be one of ${ACTIONS.join(', ')}` }),
    group: groupName.optional(),
    dryRun: z.boolean({ message: 'must be true or false' }).default(false),
    force: z.boolean({ message: 'must be true or false' }).default(false),
    target: z
      .string()
      .regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'must be host:port')
      .optional(),
    requestId: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'must be 1-128 letters, digits, _ . : -')
      .optional(),
    allowDataLoss: z.boolean({ message: 'must be true or false' }).optional(),
    reason: z.string().min(1).max(500).optional(),
  })
  .strict()
  .refine((e) => e.force || (e.allowDataLoss === undefined && e.reason === undefined), {
    message: 'allowDataLoss and reason go with "force": true',
  });

const scheduleInput = z
  .object({
    source: z.literal('schedule'),
    group: groupName.optional(),
  })
  .strict();

const awsScheduled = z.object({
  source: z.literal('aws.events'),
  'detail-type': z.literal('Scheduled Event'),
});

/** CloudWatch's own limits: an alarm name has at most 255 characters, a state reason 1,023. */
const alarmName = z.string().min(1).max(255);
const alarmReason = z.string().transform((r) => r.slice(0, 1_023));

const alarmChange = z.object({
  source: z.literal('aws.cloudwatch'),
  'detail-type': z.literal('CloudWatch Alarm State Change'),
  detail: z.object({
    alarmName,
    state: z.object({ value: z.string().max(64), reason: alarmReason.optional() }),
  }),
});

const snsAlarm = z.object({
  Records: z
    .array(
      z.object({
        EventSource: z.literal('aws:sns'),
        Sns: z.object({ Message: z.string() }),
      }),
    )
    .min(1),
});

const snsAlarmMessage = z.object({
  AlarmName: alarmName,
  NewStateValue: z.string().max(64),
  NewStateReason: alarmReason.optional(),
});

const watcherEvent = z.object({
  source: z.literal('mysql-failover.watcher'),
  'detail-type': z.literal('Router Primary Down'),
  time: z.string().refine((t) => Number.isFinite(Date.parse(t)), 'must be an ISO 8601 time'),
  detail: z.object({
    cluster: z.string().max(64),
    group: groupName,
    backend: z.string().max(128),
    routerKind: z.enum(['haproxy', 'mysqlrouter', 'proxysql']),
    primary: z.string().max(300),
    state: z.literal('down'),
    reason: z.string().max(1000).default(''),
  }),
});

const continuation = z.object({
  source: z.literal('mysql-failover.continuation'),
  group: groupName.optional(),
  resume: z.record(z.string(), z.unknown()),
});

const ACCEPTED =
  'accepted events: a console event {"action": "check"|"status"|"failover"|"recover"|"switchover", ' +
  '"group": "<name>", "dryRun": true|false, "force": true|false, "target": "host:port", "allowDataLoss": true|false, ' +
  '"reason": "<text>", "requestId": "<id>"}; the schedule input {"source": "schedule", ' +
  '"group": "<name>"}; an EventBridge Scheduled Event; a "CloudWatch Alarm State Change" event; ' +
  'an SNS notification carrying a CloudWatch alarm; a backend watcher\'s "Router Primary Down" event';

/**
 * The largest event accepted, in characters of its JSON: ours are a few hundred, an alarm a few KB. A
 * larger one is refused unread, and nothing of it is echoed back or logged (issue 13, Low).
 */
export const MAX_EVENT_CHARS = 65_536;

/** At most `max` names, each cut short: an error names what was wrong without echoing the event. */
function someNames(names: readonly PropertyKey[], max = 8): string {
  const shown = names.slice(0, max).map((n) => {
    const name = String(n);
    return name.length > 40 ? `${name.slice(0, 40)}…` : name;
  });
  return names.length > max ? `${shown.join(', ')} and ${names.length - max} more` : shown.join(', ');
}

function explain(error: z.ZodError): string {
  const said = error.issues.slice(0, 8).map((issue) => {
    const key = someNames(issue.path, 6).replaceAll(', ', '.') || '(event)';
    if (issue.code === 'unrecognized_keys') return `unknown key(s) ${someNames(issue.keys)}`;
    return `${key}: ${issue.message.slice(0, 300)}`;
  });
  if (error.issues.length > 8) said.push(`and ${error.issues.length - 8} more problem(s)`);
  return said.join('; ');
}

/**
 * A function serves its own backend group (env GROUP): an event that names another configured group
 * is refused, not run with this function's role and reported under the wrong group (a group that is
 * not configured at all is left to the configuration's own error). Without a group of its own (the
 * CLI, a local run) any configured group is served.
 */
export function checkOwnGroup(
  invocation: Invocation,
  ownGroup: string | undefined,
  configured?: readonly string[],
): void {
  if (!ownGroup || invocation.group === undefined || invocation.group === ownGroup) return;
  if (configured && !configured.includes(invocation.group)) return;
  throw new EventValidationError(
    `this function serves group ${ownGroup}; the event names group ${invocation.group}: send it to that group's function`,
  );
}

function eventChars(event: object): number {
  try {
    return JSON.stringify(event)?.length ?? 0;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/** An alarm (whatever its transport) runs a check of the function's own group. */
function alarmInvocation(name: string, state: string, reason: string | undefined): Invocation {
  return {
    trigger: 'alarm',
    action: 'check',
    group: undefined,
    dryRun: false,
    force: false,
    alarm: { name, state, reason },
  };
}

/**
 * A maintenance request from the console: `{"maintenance": {"op": "start", "scope": "cluster" |
 * "host:port" | "name", "reason": "...", "minutes": 120}}` (`end` and `list` need no reason). It runs
 * no cycle: the window is stored on every server (operations/maintenance.ts).
 */
export interface MaintenanceCommand {
  op: 'start' | 'end' | 'list';
  scope?: string;
  reason?: string;
  minutes?: number;
}

const maintenanceEvent = z
  .object({
    maintenance: z
      .object({
        op: z.enum(['start', 'end', 'list'], { message: 'must be start, end or list' }),
        scope: z
          .string()
          .regex(
            /^(cluster|[A-Za-z0-9][A-Za-z0-9_.-]{0,62}(:\d{1,5})?)$/,
            'must be cluster, host:port or a server name',
          )
          .optional(),
        reason: z.string().min(1).max(500).optional(),
        minutes: z
          .number()
          .int()
          .min(1)
          .max(7 * 24 * 60)
          .optional(),
      })
      .strict()
      .refine((m) => m.op === 'list' || m.scope !== undefined, { message: 'start and end need a scope' })
      .refine((m) => m.op !== 'start' || m.reason !== undefined, { message: 'start needs a reason' }),
  })
  .strict();

/** The maintenance request an event carries, null when it is no maintenance event; throws when malformed. */
export function parseMaintenanceEvent(event: unknown): MaintenanceCommand | null {
  if (event === null || typeof event !== 'object' || !('maintenance' in event)) return null;
  const parsed = maintenanceEvent.safeParse(event);
  if (!parsed.success) throw new EventValidationError(`invalid maintenance event: ${explain(parsed.error)}`);
  const m = parsed.data.maintenance;
  return {
    op: m.op,
    ...(m.scope !== undefined ? { scope: m.scope } : {}),
    ...(m.reason !== undefined ? { reason: m.reason } : {}),
    ...(m.minutes !== undefined ? { minutes: m.minutes } : {}),
  };
}

/** Turns a raw Lambda event into an Invocation, or throws EventValidationError. */
export function parseEvent(event: unknown): Invocation {
  if (event === null || typeof event !== 'object' || Array.isArray(event)) {
    throw new EventValidationError(`the event must be a JSON object; ${ACCEPTED}`);
  }
  const chars = eventChars(event);
  if (chars > MAX_EVENT_CHARS) {
    throw new EventValidationError(
      `the event is larger than ${MAX_EVENT_CHARS} characters of JSON (${Number.isFinite(chars) ? chars : 'not serializable'}); ${ACCEPTED}`,
    );
  }
  const record = event as Record<string, unknown>;

  if (record.source === 'schedule') {
    const parsed = scheduleInput.safeParse(event);
    if (!parsed.success) throw new EventValidationError(`invalid schedule input: ${explain(parsed.error)}`);
    return { trigger: 'schedule', action: 'check', group: parsed.data.group, dryRun: false, force: false };
  }
  if (awsScheduled.safeParse(event).success) {
    return { trigger: 'schedule', action: 'check', group: undefined, dryRun: false, force: false };
  }
  const alarm = alarmChange.safeParse(event);
  if (alarm.success) {
    const { alarmName, state } = alarm.data.detail;
    return alarmInvocation(alarmName, state.value, state.reason);
  }
  const sns = snsAlarm.safeParse(event);
  if (sns.success) {
    let message: unknown;
    try {
      message = JSON.parse(sns.data.Records[0]!.Sns.Message);
    } catch {
      throw new EventValidationError('SNS message is not JSON (expected a CloudWatch alarm notification)');
    }
    const parsed = snsAlarmMessage.safeParse(message);
    if (!parsed.success) {
      throw new EventValidationError(`SNS message is not a CloudWatch alarm: ${explain(parsed.error)}`);
    }
    return alarmInvocation(parsed.data.AlarmName, parsed.data.NewStateValue, parsed.data.NewStateReason);
  }
  if (record.source === 'mysql-failover.watcher') {
    const parsed = watcherEvent.safeParse(event);
    if (!parsed.success) throw new EventValidationError(`invalid watcher event: ${explain(parsed.error)}`);
    const { backend, routerKind, primary, reason } = parsed.data.detail;
    // The function's own group: the rule already matched detail.group, and a backend's word does not
    // choose what the watchdog checks.
    return {
      trigger: 'watcher',
      action: 'check',
      group: undefined,
      dryRun: false,
      force: false,
      watcher: { backend, routerKind, primary, reason, receivedAtMs: Date.parse(parsed.data.time) },
    };
  }
  if (record.source === 'mysql-failover.continuation') {
    const parsed = continuation.safeParse(event);
    if (!parsed.success) throw new EventValidationError(`invalid continuation: ${explain(parsed.error)}`);
    return {
      trigger: 'continuation',
      action: 'check',
      group: parsed.data.group,
      dryRun: false,
      force: false,
      resume: parsed.data.resume,
    };
  }
  if ('action' in record) {
    const parsed = consoleEvent.safeParse(event);
    if (!parsed.success)
      throw new EventValidationError(`invalid console event: ${explain(parsed.error)}; ${ACCEPTED}`);
    return {
      trigger: 'console',
      action: parsed.data.action,
      group: parsed.data.group,
      dryRun: parsed.data.dryRun,
      force: parsed.data.force,
      target: parsed.data.target,
      ...(parsed.data.allowDataLoss ? { allowDataLoss: true } : {}),
      ...(parsed.data.reason ? { reason: parsed.data.reason } : {}),
      ...(parsed.data.requestId ? { requestId: parsed.data.requestId } : {}),
    };
  }
  throw new EventValidationError(
    `unrecognised event (keys: ${someNames(Object.keys(record)) || 'none'}); ${ACCEPTED}`,
  );
}
