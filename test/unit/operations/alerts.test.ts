import { describe, expect, it } from 'vitest';
import { decideAlert } from '../../../functions/operations/alerts.js';

const HOUR = 3_600_000;
const t = (iso: string) => new Date(iso);

describe('critical alerts: on a change of state, then a reminder', () => {
  it('sends a new alert once, stays quiet on the next runs, and reminds after the cadence', () => {
    const first = decideAlert(null, 'RoutersUnknown', t('2026-12-02T10:00:00Z'), HOUR);
    expect(first.send).toBe('new');
    const state = first.send === 'new' ? first.state : null;
    expect(decideAlert(state, 'RoutersUnknown', t('2026-12-02T10:10:00Z'), HOUR)).toEqual({ send: null });
    expect(decideAlert(state, 'RoutersUnknown', t('2026-12-02T10:50:00Z'), HOUR)).toEqual({ send: null });
    const reminder = decideAlert(state, 'RoutersUnknown', t('2026-12-02T11:00:00Z'), HOUR);
    expect(reminder).toEqual({
      send: 'reminder',
      state: {
        code: 'RoutersUnknown',
        since: '2026-12-02T10:00:00.000Z',
        sentAt: '2026-12-02T11:00:00.000Z',
      },
    });
  });

  it('sends at once when the alert changes, and once when it ends', () => {
    const state = { code: 'RoutersUnknown', since: '2026-12-02T10:00:00Z', sentAt: '2026-12-02T10:00:00Z' };
    expect(decideAlert(state, 'AllDown', t('2026-12-02T10:10:00Z'), HOUR).send).toBe('new');
    const resolved = decideAlert(state, null, t('2026-12-02T10:20:00Z'), HOUR);
    expect(resolved).toMatchObject({ send: 'resolved', previous: 'RoutersUnknown', state: { code: null } });
    const after = resolved.send === 'resolved' ? resolved.state : null;
    expect(decideAlert(after, null, t('2026-12-02T10:30:00Z'), HOUR)).toEqual({ send: null });
    expect(decideAlert(null, null, t('2026-12-02T10:30:00Z'), HOUR)).toEqual({ send: null });
  });
});
