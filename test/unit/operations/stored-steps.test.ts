/**
 * Plans journaled by older code lack fields the planner sets today: a takeover resumes them with what
 * the older executor inferred (functions/operations/steps/stored.ts).
 */
import { describe, expect, it } from 'vitest';
import type { Step } from '../../../functions/core/planner.js';
import { upgradeStoredPlan } from '../../../functions/operations/steps/stored.js';

const A = '10.0.0.1:3306';
const B = '10.0.0.2:3306';

/** A plan as the journal held it before the steps described themselves (JSON, fields missing). */
function old(operation: 'switchover' | 'failover' | 'promote-dead', steps: unknown[]) {
  return upgradeStoredPlan({ operation, steps: JSON.parse(JSON.stringify(steps)) as Step[] });
}

describe('a plan stored by older code', () => {
  it("waits in a switchover's CatchUp for the position of the server its plan fenced", () => {
    const p = old('switchover', [
      { kind: 'Fence', server: A, ifReachable: false },
      { kind: 'CatchUp', server: B },
    ]);
    expect(p.steps[1]).toEqual({ kind: 'CatchUp', server: B, waitFor: { kind: 'position-of', server: A } });
  });

  it("waits in a failover's CatchUp for what the candidate received", () => {
    for (const operation of ['failover', 'promote-dead'] as const) {
      const p = old(operation, [
        { kind: 'Fence', server: A, ifReachable: true },
        { kind: 'CatchUp', server: B },
      ]);
      expect(p.steps[1]).toEqual({ kind: 'CatchUp', server: B, waitFor: { kind: 'relay-log' } });
    }
  });

  it("keeps what today's planner stored", () => {
    const steps: Step[] = [
      { kind: 'Fence', server: A, ifReachable: false },
      { kind: 'CatchUp', server: B, waitFor: { kind: 'relay-log' } },
    ];
    expect(upgradeStoredPlan({ operation: 'switchover', steps }).steps).toEqual(steps);
  });
});

describe('a StartReplication stored by older code', () => {
  it('joins read-only from gtid_slave_pos after a Reseed of the same server, else from gtid_current_pos', () => {
    const p = old('failover', [
      { kind: 'StartReplication', server: B, from: A },
      { kind: 'Reseed', server: A, from: B },
      { kind: 'StartReplication', server: A, from: B },
    ]);
    expect(p.steps[0]).toEqual({
      kind: 'StartReplication',
      server: B,
      from: A,
      gtidMode: 'current_pos',
      keepReadOnly: false,
    });
    expect(p.steps[2]).toEqual({
      kind: 'StartReplication',
      server: A,
      from: B,
      gtidMode: 'slave_pos',
      keepReadOnly: true,
    });
  });
});
