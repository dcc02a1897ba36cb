/**
 * Waiting on a condition in a test, with a deadline generous enough for a loaded 2-core machine.
 * Returns the last value seen, so the caller asserts on it: a miss fails with the evidence, never
 * with a timing figure.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export async function pollUntil<T>(
  probe: () => Promise<T> | T,
  done: (value: T) => boolean,
  { deadlineMs = 60_000, intervalMs = 250 }: { deadlineMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const end = Date.now() + deadlineMs;
  let value = await probe();
  while (!done(value) && Date.now() < end) {
    await sleep(intervalMs);
    value = await probe();
  }
  return value;
}
