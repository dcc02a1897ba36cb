import { describe, expect, it } from 'vitest';
import { type ElectionStatus, formatElectionStatus } from '../../../functions/election/status.js';

const T0 = 1_800_000_000_000;

describe('formatElectionStatus', () => {
  it('says when no operation is in progress', () => {
    expect(formatElectionStatus({ dbNowMs: T0, ongoing: null, recent: [] })).toEqual([
      'election: no operation in progress',
    ]);
  });

  it('shows each signal of the ongoing operation with its epoch and time since the first SCAN', () => {
    const status: ElectionStatus = {
      dbNowMs: T0 + 500,
      ongoing: {
        epoch: 8,
        openedEpoch: 7,
        op: 'fail',
        master: 'g1@a',
        openedBy: 'g2@b',
        leaseExpired: false,
        leaseRemainingMs: 1400,
        firstScanAtMs: T0,
        signals: [
          { id: 10, epoch: 8, sig: 'SCAN', value: 'g1@a', participant: 'g1@a', atMs: T0 + 10 },
          { id: 11, epoch: 8, sig: 'MAST', value: 'g1@a', participant: 'g1@a', atMs: T0 + 12 },
          { id: 12, epoch: 8, sig: 'TARG', value: '10.0.0.2:3306', participant: 'g1@a', atMs: T0 + 40 },
        ],
        staleSignals: [{ id: 3, epoch: 7, sig: 'SCAN', value: 'g9@z', participant: 'g9@z', atMs: T0 }],
      },
      recent: [
        {
          openedEpoch: 5,
          lastEpoch: 6,
          outcome: 'completed',
          closedBy: 'g3@c',
          closedAtMs: T0 - 60_000,
          firstScanToRemovalMs: 2300,
          masters: { 5: ['g4@d'], 6: ['g3@c'] },
          signals: 14,
        },
      ],
    };
    expect(formatElectionStatus(status)).toEqual([
      'election: operation fail (opened at epoch 7, now epoch 8), master g1@a, lease 1400 ms left',
      '  epoch 8  +10 ms  SCAN g1@a',
      '  epoch 8  +12 ms  MAST g1@a',
      '  epoch 8  +40 ms  TARG 10.0.0.2:3306  (g1@a)',
      '  1 signal(s) of earlier epochs ignored',
      'finished: epoch 5..6 completed by g3@c, masters 5:g4@d 6:g3@c, 2300 ms',
    ]);
  });
});
