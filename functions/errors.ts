/**
 * The one errors module. Every error the watchdog raises on purpose is a WatchdogError with a stable
 * `code`, so reports, logs and the CLI can say what went wrong without a stack trace, and the original
 * failure stays reachable through `cause`.
 */
export class WatchdogError extends Error {
  readonly code: string = 'WatchdogError';
  /** Extra facts for the report (never secrets). */
  readonly details: Record<string, unknown>;

  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.details = options.details ?? {};
  }

  toJSON(): Record<string, unknown> {
    const cause = this.cause instanceof Error ? this.cause.message : this.cause;
    return { error: this.name, code: this.code, message: this.message, details: this.details, cause };
  }
}

/** A configuration value is missing or invalid; the message names the key and the value. */
export class ConfigError extends WatchdogError {
  override readonly code = 'ConfigError';
}

/** An event the handler received does not match any accepted shape. */
export class EventValidationError extends WatchdogError {
  override readonly code = 'EventValidationError';
}

/** A command-line usage error. */
export class UsageError extends WatchdogError {
  override readonly code = 'UsageError';
}

/** A database server could not be reached or answered with an error. */
export class DbError extends WatchdogError {
  override readonly code = 'DbError';
}

/** A server refused, or silently ignored, a state change we asked for (checked after every change). */
export class StateChangeRefusedError extends WatchdogError {
  override readonly code = 'StateChangeRefused';
}

/** A GTID set string could not be parsed. */
export class GtidParseError extends WatchdogError {
  override readonly code = 'GtidParseError';
}

/** The election protocol could not proceed (lost lease, stale epoch, timeout). */
export class ElectionError extends WatchdogError {
  override readonly code = 'ElectionError';
}

/** A router switch failed (validation, apply or verification), after rollback. */
export class RouterSwitchError extends WatchdogError {
  override readonly code = 'RouterSwitchError';
}

/** Object storage refused or lost a read or write. */
export class StorageError extends WatchdogError {
  override readonly code = 'StorageError';
}

/** A dump is truncated, corrupt or does not match its manifest or target. */
export class DumpIntegrityError extends WatchdogError {
  override readonly code = 'DumpIntegrityError';
}

/** Work stopped cleanly because the deadline came near or the caller aborted; resumable. */
export class DeadlineError extends WatchdogError {
  override readonly code = 'DeadlineError';
}

/**
 * A scheduled, alarm-started or continued run whose cycle failed: thrown out of the Lambda handler so
 * that the function's Errors metric, its alarm and the on-failure destination see it.
 */
export class CycleFailedError extends WatchdogError {
  override readonly code = 'CycleFailedError';
}

/** A safety rule forbids the requested operation (partitioned view, anti-flap, split brain policy). */
export class SafetyRefusalError extends WatchdogError {
  override readonly code = 'SafetyRefusal';
}

/** A physical reseed's command on a database host (backup or restore) failed or was lost. */
export class ReseedCommandError extends WatchdogError {
  override readonly code = 'ReseedCommandError';
}

/** A pre-failover hook vetoed the operation (or did not answer, with `onNoAnswer: veto`). */
export class HookVetoError extends WatchdogError {
  override readonly code = 'HookVeto';
}

/** A local process (mariadbd, haproxy, bash script) failed to start or exited badly. */
export class ProcessError extends WatchdogError {
  override readonly code = 'ProcessError';
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** Wraps anything thrown into a WatchdogError subclass, keeping an existing one unchanged. */
export function asWatchdogError(error: unknown, fallback: string): WatchdogError {
  if (error instanceof WatchdogError) return error;
  return new WatchdogError(`${fallback}: ${errorMessage(error)}`, { cause: error });
}
