/**
 * Manual actions are idempotent. A console `failover`, `switchover` or `recover` (not a dry run) has a
 * request id: the one the caller gives (`requestId`), or one derived from what it asks (action, group,
 * target, force). The AWS CLI retries a synchronous invoke whose answer took longer than its read
 * timeout, and an operator may press twice: a repeat within the window returns the first result and
 * changes nothing; a repeat while the first still runs is told so.
 *
 * The record is kept where every run of the function can read it whatever database server is down:
 * the object store (`requests/<cluster>/<group>/<id>.json` under the dumps prefix). With the function's
 * reserved concurrency of 1 (the template's default), a retried invoke waits for the first one, so
 * read-then-write is enough; with more, two first calls arriving in the same instant could both run
 * (the election still lets only one of them act).
 */
import { createHash } from 'node:crypto';
import type { Invocation } from './events.js';

export interface RequestRecord {
  requestId: string;
  /** Derived from the request (no id given) or given by the caller. */
  derived: boolean;
  status: 'in-progress' | 'done';
  startedAt: string;
  /** Until when a repeat returns this record. */
  expiresAt: string;
  /** The first call's answer, once done. */
  result?: unknown;
}

const MANUAL: ReadonlySet<Invocation['action']> = new Set(['failover', 'switchover', 'recover']);

/** An in-progress record older than Lambda's longest run belongs to a run that died. */
export const ABANDONED_AFTER_MS = 15 * 60_000;

/** The request id of an invocation that must be idempotent; null for every other invocation. */
export function requestIdOf(
  invocation: Invocation,
  group: string | undefined,
): { id: string; derived: boolean } | null {
  if (invocation.trigger !== 'console' || invocation.dryRun || !MANUAL.has(invocation.action)) return null;
  if (invocation.requestId) return { id: invocation.requestId, derived: false };
  const what = JSON.stringify([
    invocation.action,
    group ?? null,
    invocation.target ?? null,
    invocation.force,
    // Refused without the second flag, then asked again with it: a different request.
    ...(invocation.allowDataLoss ? ['allowDataLoss'] : []),
  ]);
  return { id: `derived-${createHash('sha256').update(what).digest('hex').slice(0, 32)}`, derived: true };
}

export function requestKey(cluster: string, group: string | undefined, id: string): string {
  return `requests/${cluster}/${group ?? 'all'}/${id}.json`;
}

export type RepeatDecision =
  | { run: true }
  | { run: false; repeat: RequestRecord }
  | { run: false; inProgress: RequestRecord };

/** Pure: whether this call runs, or answers from the first one. */
export function decideRepeat(record: RequestRecord | null, now: Date): RepeatDecision {
  if (!record || Date.parse(record.expiresAt) <= now.getTime()) return { run: true };
  if (record.status === 'done') return { run: false, repeat: record };
  if (now.getTime() - Date.parse(record.startedAt) >= ABANDONED_AFTER_MS) return { run: true };
  return { run: false, inProgress: record };
}

export function startRecord(
  id: { id: string; derived: boolean },
  now: Date,
  windowMs: number,
): RequestRecord {
  return {
    requestId: id.id,
    derived: id.derived,
    status: 'in-progress',
    startedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + windowMs).toISOString(),
  };
}
