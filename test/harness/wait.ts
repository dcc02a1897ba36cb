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

/**
 * A run's deadline that strikes once a condition holds (the moment a test wants the run cut short):
 * `signal` goes to the run; `stop()`, after it, ends the watch and returns the value that struck the
 * deadline, or null when the condition never held (polled every `intervalMs`, `polls` times at most).
 */
export function deadlineWhen<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  { intervalMs = 20, polls = 1_200 }: { intervalMs?: number; polls?: number } = {},
): { signal: AbortSignal; stop: () => Promise<T | null> } {
  const controller = new AbortController();
  const watch = (async (): Promise<T | null> => {
    for (let i = 0; i < polls && !controller.signal.aborted; i++) {
      const value = await probe();
      if (done(value)) {
        controller.abort(new Error('deadline'));
        return value;
      }
      await sleep(intervalMs);
    }
    return null;
  })();
  return {
    signal: controller.signal,
    stop: () => {
      controller.abort();
      return watch;
    },
  };
}
