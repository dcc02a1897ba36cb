/**
 * Plans journaled by older code lack fields the planner sets today: a takeover resumes them with what
 * the older executor inferred (functions/operations/steps/stored.ts).
 */
import { describe, expect, it } from 'vitest';
import type { Step } from '../../../functions/core/planner.js';
import { upgradeStoredPlan } from '../../../functions/operations/steps/stored.js';

const A = '10.0.0.1:3306';
const B = '10.0.0.2:3306';
const C = '10.0.0.3:3306';

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
      { kind: 'StartReplication', server: C, from: B },
      { kind: 'Reseed', server: A, from: B },
      { kind: 'StartReplication', server: A, from: B },
    ]);
    expect(p.steps[0]).toEqual({
      kind: 'StartReplication',
      server: C,
      from: B,
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
    // The older executor put them back into the routers after the plan: now the plan's last step.
    expect(p.steps.at(-1)).toEqual({ kind: 'RestoreRouters', to: B });
  });
});

describe('a Verify stored by older code', () => {
  const accepting = (primary: string) => [{ kind: 'replica-matter', primary }];

  it("accepts a replica's matter with the promoted server the primary when it expected a degraded cluster", () => {
    const p = old('promote-dead', [
      { kind: 'Promote', server: B },
      { kind: 'Verify', expect: 'ReplicaDown' },
    ]);
    expect(p.steps[1]).toEqual({ kind: 'Verify', expect: 'ReplicaDown', accept: accepting(B) });
  });

  it('accepts the same after a rejoin (its routers’ primary) and a reopen (the opened server)', () => {
    const rejoin = upgradeStoredPlan({
      operation: 'rejoin',
      steps: JSON.parse(
        JSON.stringify([
          { kind: 'SwitchRouters', to: B, exclude: [] },
          { kind: 'Verify', expect: 'Ok' },
        ]),
      ) as Step[],
    });
    expect(rejoin.steps[1]).toEqual({ kind: 'Verify', expect: 'Ok', accept: accepting(B) });
    const reopen = upgradeStoredPlan({
      operation: 'reopen',
      steps: JSON.parse(
        JSON.stringify([
          { kind: 'Promote', server: A },
          { kind: 'Verify', expect: 'Ok' },
        ]),
      ) as Step[],
    });
    expect(reopen.steps[1]).toEqual({ kind: 'Verify', expect: 'Ok', accept: accepting(A) });
  });

  it('accepts nothing but Ok after a failover or a switchover', () => {
    for (const operation of ['failover', 'switchover'] as const) {
      const p = old(operation, [
        { kind: 'Promote', server: B },
        { kind: 'Verify', expect: 'Ok' },
      ]);
      expect(p.steps[1]).toEqual({ kind: 'Verify', expect: 'Ok', accept: [] });
    }
  });
});

describe('the dry-run description of a step', () => {
  it('says what the step carries: what a CatchUp waits for, a rebuilt replica kept read-only, what a Verify accepts', async () => {
    const { describeStep } = await import('../../../functions/operations/status-view.js');
    expect(describeStep({ kind: 'CatchUp', server: B, waitFor: { kind: 'position-of', server: A } })).toBe(
      `let ${B} apply everything ${A} wrote`,
    );
    expect(
      describeStep({
        kind: 'StartReplication',
        server: A,
        from: B,
        gtidMode: 'slave_pos',
        keepReadOnly: true,
      }),
    ).toContain('kept read-only');
    expect(
      describeStep({ kind: 'Verify', expect: 'Ok', accept: [{ kind: 'replica-matter', primary: B }] }),
    ).toBe(`observe again and expect Ok (or a replica's matter with ${B} the primary)`);
  });
});
