/**
 * When a critical alert goes out: on a change of state (a new alert code, or the end of one), and
 * then as a reminder every `reminderMs` while it lasts — not on every run of every group. The last
 * alert sent is kept per group in the object store (`alerts/<cluster>/<group>.json`), which every
 * run of the group can read whatever server is down; when it cannot be read the alert is sent (an
 * extra message beats a missed one).
 */
import type { ObjectStore } from '../storage/object-store.js';
import { getJson, putJson } from './store.js';

export interface AlertState {
  /** The alert code last sent (the analysis code), or null when the last message said it ended. */
  code: string | null;
  /** When this state was first sent. */
  since: string;
  /** When a message about it was last sent. */
  sentAt: string;
}

export type AlertDecision =
  | { send: 'new'; state: AlertState }
  | { send: 'reminder'; state: AlertState }
  | { send: 'resolved'; state: AlertState; previous: string }
  | { send: null };

/** Pure: what to send, given the last state and this run's alert code (null: no critical alert). */
export function decideAlert(
  previous: AlertState | null,
  code: string | null,
  now: Date,
  reminderMs: number,
): AlertDecision {
  const at = now.toISOString();
  if (code === null) {
    if (previous?.code) {
      return { send: 'resolved', state: { code: null, since: at, sentAt: at }, previous: previous.code };
    }
    return { send: null };
  }
  if (!previous || previous.code !== code) return { send: 'new', state: { code, since: at, sentAt: at } };
  if (now.getTime() - Date.parse(previous.sentAt) >= reminderMs) {
    return { send: 'reminder', state: { ...previous, sentAt: at } };
  }
  return { send: null };
}

export function alertKey(cluster: string, group: string | null): string {
  return `alerts/${cluster}/${group ?? 'all'}.json`;
}

/** Reads the last state (null when none or unreadable: the caller then sends). */
export async function readAlertState(store: ObjectStore, key: string): Promise<AlertState | null> {
  try {
    return await getJson<AlertState>(store, key);
  } catch {
    return null;
  }
}

export async function writeAlertState(store: ObjectStore, key: string, state: AlertState): Promise<void> {
  await putJson(store, key, state);
}
