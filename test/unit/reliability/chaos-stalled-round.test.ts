/**
 * A chaos round that waits without end ends at its limit with a report of what it waited for: the
 * MySQL chaos-short case once ran into the test runner's 1,200 s timeout with nothing printed, and
 * nobody could say where it hung.
 */
import { describe, expect, it } from 'vitest';
import { stalledRound } from '../../../functions/sandbox/chaos.js';
import { isStall, StallWatch } from '../../../functions/sandbox/harness/diagnostics.js';

const never = (): Promise<never> => new Promise(() => {});

async function stall(watch: StallWatch, work: () => Promise<void>): Promise<Error> {
  const error = await watch.within(60_000, work).catch((e: unknown) => e);
  expect(isStall(error)).toBe(true);
  return error as Error;
}

describe('a chaos round that stalls', () => {
  it('is a violation naming the invocation when a watchdog invocation never returns, with the invocations before it', async () => {
    const watch = new StallWatch('round 2 (restart-mid-reseed)');
    const error = await stall(watch, async () => {
      await watch.step('the current primary (status runs)', 5_000, async () => 'db1');
      watch.note('+3.0 s invocation 1 (alarm, 9.0 s): g1: FailoverNeeded plan operation failover');
      await watch.step('watchdog invocation 2 (schedule) of every group', 100, never);
    });
    const { verdict, text } = stalledRound(2, 'restart-mid-reseed', watch, error);
    expect(verdict).toBe('violation');
    expect(text).toMatch(
      /^round 2 \(restart-mid-reseed\) stalled: round 2 \(restart-mid-reseed\) did not finish within 0 s; stalled at: waiting for watchdog invocation 2 \(schedule\) of every group/,
    );
    expect(text).toContain('invocation 1 (alarm, 9.0 s): g1: FailoverNeeded');
  });

  it('is a harness error naming the step when the harness itself is stuck (a restart in the background)', async () => {
    const watch = new StallWatch('round 2 (restart-mid-reseed)');
    const error = await stall(watch, async () => {
      watch.note('+3.0 s invocation 1 (alarm, 9.0 s): g1: RecoverNeeded plan operation recover');
      await watch.step('the restart in the background', 100, never);
    });
    const { verdict, text } = stalledRound(2, 'restart-mid-reseed', watch, error);
    expect(verdict).toBe('harness error');
    expect(text).toContain('stalled at: waiting for the restart in the background');
  });
});
