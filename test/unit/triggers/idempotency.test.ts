import { describe, expect, it } from 'vitest';
import { parseEvent } from '../../../functions/triggers/events.js';
import {
  ABANDONED_AFTER_MS,
  decideRepeat,
  requestIdOf,
  startRecord,
} from '../../../functions/triggers/idempotency.js';

const at = (iso: string) => new Date(iso);

describe('manual actions are idempotent', () => {
  it('gives a console failover, switchover or recover a request id: the caller’s, or one derived from the request', () => {
    expect(
      requestIdOf(parseEvent({ action: 'failover', group: 'web', force: true, requestId: 'inc-42' }), 'web'),
    ).toEqual({
      id: 'inc-42',
      derived: false,
    });
    const a = requestIdOf(parseEvent({ action: 'switchover', group: 'web', target: 'db2:3306' }), 'web');
    const b = requestIdOf(parseEvent({ action: 'switchover', group: 'web', target: 'db2:3306' }), 'web');
    const c = requestIdOf(parseEvent({ action: 'switchover', group: 'web', target: 'db3:3306' }), 'web');
    expect(a?.derived).toBe(true);
    expect(a?.id).toBe(b?.id);
    expect(a?.id).not.toBe(c?.id);
    // checks, dry runs and non-console triggers need none
    expect(requestIdOf(parseEvent({ action: 'check', group: 'web' }), 'web')).toBeNull();
    expect(requestIdOf(parseEvent({ action: 'failover', group: 'web', dryRun: true }), 'web')).toBeNull();
    expect(requestIdOf(parseEvent({ source: 'schedule', group: 'web' }), 'web')).toBeNull();
  });

  it('refuses a request id that is not a plain token', () => {
    expect(() => parseEvent({ action: 'failover', requestId: 'a b;c' })).toThrow(/requestId/);
  });

  it('answers a repeat within the window from the first call, tells a repeat that the first still runs, and runs again after the window', () => {
    const first = startRecord({ id: 'r', derived: false }, at('2026-12-02T10:00:00Z'), 3_600_000);
    expect(decideRepeat(null, at('2026-12-02T10:00:00Z'))).toEqual({ run: true });
    expect(decideRepeat(first, at('2026-12-02T10:01:00Z'))).toEqual({ run: false, inProgress: first });
    const done = { ...first, status: 'done' as const, result: { ok: true } };
    expect(decideRepeat(done, at('2026-12-02T10:59:00Z'))).toEqual({ run: false, repeat: done });
    expect(decideRepeat(done, at('2026-12-02T11:00:00Z'))).toEqual({ run: true });
    // a first call that died (Lambda's longest run is over) does not block forever
    expect(decideRepeat(first, new Date(Date.parse(first.startedAt) + ABANDONED_AFTER_MS))).toEqual({
      run: true,
    });
  });
});
