import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EventValidationError } from '../../../functions/errors.js';
import { parseEvent } from '../../../functions/triggers/events.js';

const sample = (name: string): unknown => JSON.parse(readFileSync(`events/${name}.json`, 'utf8'));

describe('parseEvent', () => {
  it('reads our schedule rule input as a check of its group', () => {
    expect(parseEvent(sample('schedule'))).toMatchObject({
      trigger: 'schedule',
      action: 'check',
      group: 'web',
    });
  });

  it('reads a raw EventBridge Scheduled Event as a check of the function group', () => {
    expect(parseEvent(sample('eventbridge-scheduled'))).toMatchObject({
      trigger: 'schedule',
      action: 'check',
      group: undefined,
    });
  });

  it('reads a console event with every field', () => {
    expect(parseEvent(sample('console-failover-FORCED'))).toEqual({
      trigger: 'console',
      action: 'failover',
      group: 'web',
      dryRun: false,
      force: true,
      target: '10.0.2.10:3306',
      reason: "db-a's disk is failing; the watchdog cannot see it",
      requestId: 'incident-2026-12-01-forced-failover',
    });
  });

  it('takes allowDataLoss and reason only with force', () => {
    expect(
      parseEvent({ action: 'failover', force: true, target: 'db2:3306', allowDataLoss: true, reason: 'r' }),
    ).toMatchObject({ force: true, target: 'db2:3306', allowDataLoss: true, reason: 'r' });
    expect(() => parseEvent({ action: 'failover', target: 'db2:3306', allowDataLoss: true })).toThrow(
      /allowDataLoss and reason go with "force": true/,
    );
  });

  it('defaults dryRun and force to false on a console event', () => {
    expect(parseEvent(sample('console-status'))).toMatchObject({
      action: 'status',
      dryRun: false,
      force: false,
    });
  });

  it('reads a CloudWatch Alarm State Change event with the alarm name and state', () => {
    expect(parseEvent(sample('alarm-state-change'))).toMatchObject({
      trigger: 'alarm',
      alarm: { name: 'shop-db-primary-unreachable', state: 'ALARM' },
    });
  });

  it('reads the same alarm wrapped in SNS', () => {
    expect(parseEvent(sample('alarm-sns'))).toMatchObject({
      trigger: 'alarm',
      alarm: { name: 'shop-db-primary-unreachable', state: 'ALARM' },
    });
  });

  it('refuses a malformed console event naming each wrong field and the allowed values', () => {
    let error: unknown;
    try {
      parseEvent(sample('console-malformed'));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EventValidationError);
    const message = (error as Error).message;
    expect(message).toContain('action: must be one of check, status, failover, recover, switchover');
    expect(message).toContain('dryRun: must be true or false');
  });

  it('refuses unknown keys on a console event', () => {
    expect(() => parseEvent({ action: 'check', grop: 'web' })).toThrow(/unknown key\(s\) grop/);
  });

  it('refuses a hostile group name', () => {
    expect(() => parseEvent({ action: 'check', group: 'g1; rm -rf /' })).toThrow(
      /group: must be a group name/,
    );
  });

  it('refuses non-object events and unrecognised shapes with the list of accepted events', () => {
    expect(() => parseEvent('check')).toThrow(/must be a JSON object/);
    expect(() => parseEvent(null)).toThrow(EventValidationError);
    expect(() => parseEvent({ hello: 'world' })).toThrow(
      /unrecognised event \(keys: hello\); accepted events/,
    );
  });

  it('refuses an SNS message that is not an alarm', () => {
    expect(() =>
      parseEvent({ Records: [{ EventSource: 'aws:sns', Sns: { Message: '{"foo":1}' } }] }),
    ).toThrow(/not a CloudWatch alarm/);
  });
});

describe('the backend watcher event', () => {
  it('reads a "Router Primary Down" event as a check of the function group, keeping who saw what', () => {
    expect(parseEvent(sample('watcher-primary-down'))).toEqual({
      trigger: 'watcher',
      action: 'check',
      group: undefined,
      dryRun: false,
      force: false,
      watcher: {
        backend: 'i-0abc1234def567890',
        routerKind: 'haproxy',
        primary: '10.0.1.10:3306',
        reason: 'haproxy mysql_failover/db1 is MAINT',
        receivedAtMs: Date.parse('2026-11-25T12:03:11Z'),
      },
    });
  });

  it('never lets the event choose another group, force or an action', () => {
    const event = sample('watcher-primary-down') as { detail: Record<string, unknown> };
    const parsed = parseEvent({
      ...event,
      action: 'failover',
      force: true,
      detail: { ...event.detail, group: 'web' },
    });
    expect(parsed).toMatchObject({ action: 'check', group: undefined, force: false, dryRun: false });
  });

  it('refuses a watcher event without an EventBridge time or with an unknown router kind, naming the key', () => {
    const event = sample('watcher-primary-down') as Record<string, unknown> & {
      detail: Record<string, unknown>;
    };
    const { time: _time, ...noTime } = event;
    expect(() => parseEvent(noTime)).toThrow(/invalid watcher event: time/);
    expect(() => parseEvent({ ...event, detail: { ...event.detail, routerKind: 'nginx' } })).toThrow(
      /invalid watcher event: detail\.routerKind/,
    );
    expect(() => parseEvent({ ...event, detail: { ...event.detail, state: 'up' } })).toThrow(
      EventValidationError,
    );
  });
});
