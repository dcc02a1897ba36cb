/**
 * The chaos checker's own access to the servers (the invariant checks after a round), apart from the
 * watchdog's: a 100-round production run stopped at round 64 because the checker's connection
 * (`AdminPool.get`, with the watchdog's 1 s connect timeout) timed out at load average 70–140.
 *
 * The checker connects with generous timeouts and retries a failure to reach a server within a
 * deadline. A failure that is still a connection failure at the deadline is the harness's (reported
 * as a HARNESS ERROR, counted in `harnessErrors`), never a product violation; any other error (a
 * replica that is not a replica, a position never reached) is returned at once, for the caller to
 * report as the violation it is.
 */
import type { Config } from '../config/schema.js';
import type { ServerId } from '../core/snapshot.js';
import { errorMessage } from '../errors.js';
import { AdminPool } from '../operations/admin.js';
import { type ChecksumComparison, compareChecksums } from '../operations/checksum.js';

/** The checker's timeouts: a connect that takes 20 s on a loaded machine is slow, not a failure. */
export const CHECKER_TIMEOUTS = { connectMs: 20_000, queryMs: 120_000 } as const;
/** How long the checker keeps trying to reach a server before it calls it a harness failure. */
export const CHECKER_DEADLINE_MS = 180_000;

/** The watchdog's configuration with the checker's timeouts (the servers and credentials unchanged). */
export function checkerConfig(
  config: Config,
  timeouts: { connectMs: number; queryMs: number } = CHECKER_TIMEOUTS,
): Config {
  return { ...config, timeouts: { ...config.timeouts, ...timeouts } };
}

const CONNECTION_CODES = new Set([
  'ETIMEDOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOENT', // a socket file not there (yet): the server is starting
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_CON_COUNT_ERROR',
]);

/** Whether `error` (or any error in its cause chain) is a failure to reach or keep a server connection. */
export function isConnectionFailure(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 10; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
    const message = errorMessage(e);
    if (/connect ETIMEDOUT|Too many connections|Connection lost|closed state/i.test(message)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** A check that could not reach its server within the deadline: the harness failed, not the watchdog. */
export class CheckerUnreachable extends Error {
  constructor(
    readonly what: string,
    readonly attempts: number,
    readonly last: unknown,
  ) {
    super(`${what}: no connection after ${attempts} attempt(s): ${errorMessage(last)}`, { cause: last });
    this.name = 'CheckerUnreachable';
  }
}

export interface RetryOptions {
  deadlineMs?: number;
  pauseMs?: number;
}

/**
 * Runs `check` until it succeeds; a connection failure is tried again (after `pauseMs`) until
 * `deadlineMs` has passed, then thrown as CheckerUnreachable. Any other error is thrown at once.
 */
export async function retryWithin<T>(
  what: string,
  check: () => Promise<T>,
  { deadlineMs = CHECKER_DEADLINE_MS, pauseMs = 2_000 }: RetryOptions = {},
): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await check();
    } catch (error) {
      if (!isConnectionFailure(error)) throw error;
      if (Date.now() + pauseMs > deadline) throw new CheckerUnreachable(what, attempt, error);
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  }
}

/**
 * CHECKSUM TABLE of `replica` against `primary` at one GTID position (compareChecksums), on the
 * checker's own sessions, opened again for every attempt.
 */
export function checksumWithin(
  config: Config,
  primary: ServerId,
  replica: ServerId,
  options: RetryOptions = {},
): Promise<ChecksumComparison> {
  return retryWithin(
    `checksum of ${replica} against ${primary}`,
    async () => {
      const pool = new AdminPool(config);
      try {
        return await compareChecksums(await pool.get(primary), await pool.get(replica));
      } finally {
        await pool.close();
      }
    },
    options,
  );
}
