/**
 * Watcher events come in bursts: every backend of a group sees the same primary die within a second or
 * two and each sends its event, and with one run per group at a time (reserved concurrency 1) Lambda
 * queues them. Each would open a connection through every router of every group for nothing: one
 * cycle that started after an event reached EventBridge has already looked at what that event reports.
 *
 * EventBridge stamps `time` on receipt, truncated to the second, so an event stamped T arrived before
 * T + 1 s: a cycle that started at or after T + 1 s (the Lambda clock and EventBridge's are AWS's own,
 * not the backends') started after the backend's report. Anything else runs a normal cycle.
 */
export const EVENT_TIME_RESOLUTION_MS = 1_000;

/** True when the cycle that started at `lastCycleStartMs` already covers an event stamped `receivedAtMs`. */
export function coveredByEarlierCycle(receivedAtMs: number, lastCycleStartMs: number | undefined): boolean {
  return lastCycleStartMs !== undefined && lastCycleStartMs >= receivedAtMs + EVENT_TIME_RESOLUTION_MS;
}
