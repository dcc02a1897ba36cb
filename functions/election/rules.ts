/**
 * The election's decisions, pure: given what the coordination tables say (read with the database's
 * clock) and who we are, what is our next step. The runner in protocol.ts only performs the step and
 * reads again, so every race is settled by the database (a conditional write and its affectedRows)
 * and every branch here is unit-tested without a server.
 */
import type { OperationKind, SignalName } from './schema.js';

export interface OperationRow {
  epoch: number;
  /** The epoch the operation was opened with; takeovers keep it, so it names the operation. */
  openedEpoch: number;
  op: OperationKind;
  master: string | null;
  openedBy: string;
  /** lease_until < NOW(6), evaluated by the server. */
  leaseExpired: boolean;
  /** lease_until - NOW(6) in ms, by the server's clock (negative once expired). */
  leaseRemainingMs: number;
}

export interface SignalRow {
  id: number;
  epoch: number;
  sig: SignalName;
  value: string;
  participant: string;
  /** created_at as ms since 1970, from the server's clock. */
  atMs: number;
}

export interface View {
  operation: OperationRow | null;
  /** Rows of `status` (any epoch: stale ones are filtered here, never trusted). */
  signals: readonly SignalRow[];
  /** NOW(6) of the server, ms since 1970. */
  dbNowMs: number;
}

/** The operation this invocation has taken part in so far (null before the first SCAN). */
export interface Joined {
  openedEpoch: number;
}

export type Step =
  | { kind: 'open' }
  | { kind: 'finished' }
  | { kind: 'takeover'; epoch: number }
  | { kind: 'scan'; epoch: number }
  | { kind: 'claim'; epoch: number; scanId: number }
  | { kind: 'wait-master'; epoch: number }
  | { kind: 'master'; epoch: number }
  | { kind: 'folo'; epoch: number }
  | { kind: 'follow'; epoch: number; targ: string | null; masterDone: boolean }
  | { kind: 'follower-done'; epoch: number };

/** Signals of one epoch, in id order; rows of any other epoch are ignored. */
export function epochSignals(signals: readonly SignalRow[], epoch: number): SignalRow[] {
  return signals.filter((s) => s.epoch === epoch).sort((a, b) => a.id - b.id);
}

export function firstSignal(
  signals: readonly SignalRow[],
  sig: SignalName,
  participant?: string,
): SignalRow | undefined {
  let best: SignalRow | undefined;
  for (const s of signals) {
    if (s.sig !== sig || (participant !== undefined && s.participant !== participant)) continue;
    if (!best || s.id < best.id) best = s;
  }
  return best;
}

/**
 * The next step of `me`. Order matters:
 * 1. no operation: open one, unless the one we took part in is gone (it finished: nothing to do);
 * 2. a different operation than ours: ours finished, the caller must observe again;
 * 3. we are the recorded master: carry on as master (also after a restart of this participant);
 * 4. the lease expired: take over (epoch + 1, decided by a conditional UPDATE);
 * 5. otherwise the seed protocol: SCAN, the first SCAN claims MAST, everybody else FOLO, wait TARG, FOOK.
 */
export function decide(view: View, me: string, joined: Joined | null): Step {
  const op = view.operation;
  if (!op) return joined ? { kind: 'finished' } : { kind: 'open' };
  if (joined && op.openedEpoch !== joined.openedEpoch) return { kind: 'finished' };
  const epoch = op.epoch;
  if (op.master === me) return { kind: 'master', epoch };
  if (op.leaseExpired) return { kind: 'takeover', epoch };
  const mine = epochSignals(view.signals, epoch);
  const myScan = firstSignal(mine, 'SCAN', me);
  if (!myScan) return { kind: 'scan', epoch };
  if (op.master === null) {
    const first = firstSignal(mine, 'SCAN');
    if (first && first.id === myScan.id) return { kind: 'claim', epoch, scanId: myScan.id };
    return { kind: 'wait-master', epoch };
  }
  if (firstSignal(mine, 'FOOK', me)) return { kind: 'follower-done', epoch };
  if (!firstSignal(mine, 'FOLO', me)) return { kind: 'folo', epoch };
  const targ = firstSignal(mine, 'TARG', op.master);
  const masterDone = firstSignal(mine, 'MAOK', op.master) !== undefined;
  return { kind: 'follow', epoch, targ: targ ? targ.value : null, masterDone };
}

export interface FollowerProgress {
  /** Everybody but the master who wrote SCAN or FOLO in this epoch. */
  followers: string[];
  done: string[];
  pending: string[];
  /** Pending followers past the time-out (counted from MAOK, server clock). */
  timedOut: string[];
  complete: boolean;
}

/**
 * Whether the master may remove the operation: every follower of this epoch wrote FOOK, or the
 * follower time-out (server clock, from the master's MAOK) has passed for those that did not.
 */
export function followerProgress(
  signals: readonly SignalRow[],
  epoch: number,
  master: string,
  dbNowMs: number,
  followerTimeoutMs: number,
): FollowerProgress {
  const mine = epochSignals(signals, epoch);
  const followers = new Set<string>();
  const done = new Set<string>();
  for (const s of mine) {
    if (s.participant === master) continue;
    if (s.sig === 'SCAN' || s.sig === 'FOLO') followers.add(s.participant);
    if (s.sig === 'FOOK') done.add(s.participant);
  }
  const pending = [...followers].filter((p) => !done.has(p)).sort();
  const maok = firstSignal(mine, 'MAOK', master);
  const expired = maok !== undefined && dbNowMs - maok.atMs >= followerTimeoutMs;
  const timedOut = expired ? pending : [];
  return {
    followers: [...followers].sort(),
    done: [...done].sort(),
    pending,
    timedOut,
    complete: maok !== undefined && (pending.length === 0 || expired),
  };
}

/** Milliseconds from the operation's first SCAN (any of its epochs) to `atMs`, server clock. */
export function msSinceFirstScan(signals: readonly SignalRow[], openedEpoch: number, atMs: number): number {
  let first = Number.POSITIVE_INFINITY;
  for (const s of signals) if (s.sig === 'SCAN' && s.epoch >= openedEpoch && s.atMs < first) first = s.atMs;
  return Number.isFinite(first) ? Math.max(0, Math.round((atMs - first) * 1000) / 1000) : 0;
}

/** Masters per epoch from signal rows (status or history): the audit check "one master per epoch". */
export function mastersPerEpoch(signals: readonly Pick<SignalRow, 'epoch' | 'sig' | 'participant'>[]) {
  const byEpoch = new Map<number, Set<string>>();
  for (const s of signals) {
    if (s.sig !== 'MAST') continue;
    const set = byEpoch.get(s.epoch) ?? new Set<string>();
    set.add(s.participant);
    byEpoch.set(s.epoch, set);
  }
  return new Map([...byEpoch].map(([epoch, set]) => [epoch, [...set].sort()]));
}
