/**
 * A chaos round that is not Ok in time says what every watchdog invocation found, planned and did:
 * seen at load 200-450, the only figure was the last analysis code, and connect timeouts (the cause)
 * were never printed.
 */
import { describe, expect, it } from 'vitest';
import type { CycleReport } from '../../../functions/operations/cycle.js';
import { describeReports } from '../../../functions/sandbox/chaos.js';

function report(group: string, extra: Partial<CycleReport>): CycleReport {
  return {
    cluster: 'chaos',
    group,
    trigger: 'schedule',
    action: 'check',
    dryRun: false,
    force: false,
    mode: 'execute',
    startedAt: '2026-12-03T01:12:00.000Z',
    timings: { totalMs: 2_400 },
    ...extra,
  } as CycleReport;
}

describe('the record of a chaos round', () => {
  it('lists each group with its analysis, its plan, each step with its outcome, and the errors', () => {
    const line = describeReports([
      report('g1', {
        analysis: { code: 'PrimaryReadOnly' } as CycleReport['analysis'],
        plan: { kind: 'operation', operation: 'reopen' } as CycleReport['plan'],
        operation: {
          role: 'master',
          outcome: 'master-failed',
          steps: [
            {
              kind: 'Promote',
              target: '127.0.0.1:17429',
              outcome: 'failed',
              durationMs: 1_000,
              detail:
                'refusing Promote: the routers of group g1 (none of its 1 router(s) answers (ETIMEDOUT))',
            },
          ],
          error: { message: 'refusing Promote' },
        } as unknown as CycleReport['operation'],
      }),
      report('g2', {
        analysis: { code: 'RoutersUnknown' } as CycleReport['analysis'],
        plan: { kind: 'alert-only' } as CycleReport['plan'],
      }),
      report('g3', { error: { message: 'connect ETIMEDOUT' } }),
    ]);
    expect(line).toBe(
      'g1: PrimaryReadOnly plan operation reopen master master-failed [Promote 127.0.0.1:17429 failed 1.0 s ' +
        '(refusing Promote: the routers of group g1 (none of its 1 router(s) answers (ETIMEDOUT)))] ' +
        'operation error: refusing Promote; ' +
        'g2: RoutersUnknown plan alert-only; ' +
        'g3: no analysis error: connect ETIMEDOUT',
    );
  });

  it('says so when no group answered', () => {
    expect(describeReports([])).toBe('no report');
  });
});
