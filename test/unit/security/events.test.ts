import { describe, expect, it } from 'vitest';
import { EventValidationError } from '../../../functions/errors.js';
import { checkOwnGroup, MAX_EVENT_CHARS, parseEvent } from '../../../functions/triggers/events.js';

/** The message of the EventValidationError that parsing `event` throws. */
function refusal(event: unknown): string {
  try {
    parseEvent(event);
  } catch (error) {
    expect(error).toBeInstanceOf(EventValidationError);
    return (error as Error).message;
  }
  throw new Error('the event was accepted');
}

describe('events of any size and of any group (issue 13, Low)', () => {
  it('refuses an event larger than the bound without echoing any of it', () => {
    const junk = 'A'.repeat(MAX_EVENT_CHARS);
    for (const event of [
      { action: 'check', group: 'g1', note: junk },
      { source: 'schedule', group: 'g1', [junk]: 1 },
      { anything: junk },
    ]) {
      const message = refusal(event);
      expect(message).toMatch(/larger than/);
      expect(message).not.toContain('AAAAAAAAAA');
      expect(message.length).toBeLessThan(600);
    }
  });

  it('names at most a few unknown keys, each cut short, whatever the event holds', () => {
    const many = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`${'k'.repeat(200)}${i}`, i]));
    for (const event of [many, { action: 'check', ...many }]) {
      const message = refusal(event);
      expect(message.length).toBeLessThan(1_500);
      expect(message).toMatch(/and \d+ more/);
      expect(message).not.toContain('k'.repeat(100));
    }
  });

  it('keeps alarm names and reasons within CloudWatch’s own limits', () => {
    const alarm = (name: string, reason: string) => ({
      source: 'aws.cloudwatch',
      'detail-type': 'CloudWatch Alarm State Change',
      detail: { alarmName: name, state: { value: 'ALARM', reason } },
    });
    expect(parseEvent(alarm('a', 'r'.repeat(5_000))).alarm?.reason?.length).toBe(1_023);
    expect(refusal(alarm('n'.repeat(256), 'r'))).not.toContain('n'.repeat(100));
  });

  it('refuses an event for another group than the function’s own, and an unknown one nowhere else', () => {
    const console = parseEvent({ action: 'failover', group: 'g2' });
    expect(() => checkOwnGroup(console, 'g1')).toThrow(EventValidationError);
    expect(() => checkOwnGroup(console, 'g1')).toThrow(/serves group g1.*g2/);
    const schedule = parseEvent({ source: 'schedule', group: 'g2' });
    expect(() => checkOwnGroup(schedule, 'g1')).toThrow(/serves group g1/);
    expect(() => checkOwnGroup(parseEvent({ action: 'check', group: 'g1' }), 'g1')).not.toThrow();
    expect(() => checkOwnGroup(parseEvent({ action: 'check' }), 'g1')).not.toThrow();
    // A group nobody configured is left to the configuration's own "unknown group" error.
    expect(() => checkOwnGroup(console, 'g1', ['g1', 'g2'])).toThrow(/serves group g1/);
    expect(() =>
      checkOwnGroup(parseEvent({ action: 'check', group: 'nope' }), 'g1', ['g1', 'g2']),
    ).not.toThrow();
    // A run without a group of its own (CLI, local sandbox) serves any configured group.
    expect(() => checkOwnGroup(console, undefined)).not.toThrow();
  });
});
