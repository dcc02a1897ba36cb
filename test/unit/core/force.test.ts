/**
 * Forced operations (core/force.ts): an explicit target, the second flag for data loss, what force
 * overrides and what it records. Pure: servers are cloned from the captured Ok snapshot.
 */
import { describe, expect, it } from 'vitest';
import type { Analysis } from '../../../functions/core/analysis.js';
import { type ForceRequest, forcedPlan } from '../../../functions/core/force.js';
import { type Plan, type PlanContext, plan } from '../../../functions/core/planner.js';
import { antiFlapHold } from '../../../functions/core/policy.js';
import type { ServerObservation } from '../../../functions/core/snapshot.js';
import { A, analysis, B, C, NOW, replicas as servers } from './policy-fixtures.js';

const held: PlanContext = { now: NOW, antiFlapUntil: NOW + 3_600_000, servers: [A, B, C] };
const request = (extra: Partial<ForceRequest> = {}): ForceRequest => ({
  action: 'failover',
  target: undefined,
  allowDataLoss: false,
  reason: 'incident 4711',
  ...extra,
});

function forced(a: Analysis, s: ServerObservation[], r: ForceRequest, ctx: PlanContext = held): Plan | null {
  return forcedPlan(a, s, r, ctx, plan(a, ctx));
}

const promoted = (p: Plan | null) => p?.steps.find((s) => s.kind === 'Promote');

describe('a forced failover', () => {
  const failover = analysis('FailoverNeeded', { primary: B, candidate: B, oldPrimary: A, affected: [C] });

  it('is refused without an explicit target, and changes nothing', () => {
    const p = forced(
      failover,
      servers([
        { id: A, pos: '0-1-10' },
        { id: B, pos: '0-1-10' },
      ]),
      request(),
    );
    expect(p).toMatchObject({ kind: 'alert-only', reason: expect.stringMatching(/explicit target/) });
    expect(p?.forced).toBeUndefined();
  });

  it('never promotes a target missing transactions another reachable server holds, unless allowDataLoss says so', () => {
    const s = servers([
      { id: A, pos: '0-1-12' },
      { id: B, pos: '0-1-10' },
      { id: C, pos: '0-1-12' },
    ]);
    const refused = forced(failover, s, request({ target: B }));
    expect(refused).toMatchObject({ kind: 'alert-only' });
    expect(refused?.reason).toMatch(/lacks 2 transaction\(s\) 10\.0\.0\.1:3306 holds.*allowDataLoss/);
    const allowed = forced(failover, s, request({ target: B, allowDataLoss: true }));
    expect(allowed).toMatchObject({ kind: 'operation', operation: 'failover' });
    expect(allowed?.forced).toMatchObject({ target: B, allowDataLoss: true, reason: 'incident 4711' });
  });

  it('overrides the anti-flap period and promotes the named target instead of the routers choice', () => {
    const s = servers([
      { id: A, pos: '0-1-12' },
      { id: B, pos: '0-1-12' },
      { id: C, pos: '0-1-12' },
    ]);
    expect(plan(failover, held)).toMatchObject({ kind: 'alert-only', suppressed: { operation: 'failover' } });
    const p = forced(failover, s, request({ target: C }));
    expect(p).toMatchObject({ kind: 'operation', operation: 'failover' });
    expect(promoted(p)).toEqual({ kind: 'Promote', server: C });
    // The routers' choice follows the target as a replica.
    expect(p?.steps).toContainEqual({
      kind: 'StartReplication',
      server: B,
      from: C,
      gtidMode: 'current_pos',
      keepReadOnly: false,
    });
    expect(p?.forced?.insteadOf).toMatch(/held back \(anti-flap period/);
    expect(p?.reason).toMatch(/forced by the operator to 10\.0\.0\.3:3306: incident 4711/);
  });

  it('promotes the target when the watchdog cannot see the primary but the routers still use it', () => {
    const a = analysis('PrimaryUnreachableRoutersOnPrimary', { primary: A, affected: [A] });
    const s = servers([
      { id: A, pos: '0-1-12', reachable: false },
      { id: B, pos: '0-1-12' },
      { id: C, pos: '0-1-12' },
    ]);
    expect(plan(a, held).kind).toBe('alert-only');
    const p = forced(a, s, request({ target: B }));
    expect(p).toMatchObject({ kind: 'operation', operation: 'promote-dead' });
    expect(p?.steps[0]).toEqual({ kind: 'Fence', server: A, ifReachable: true });
    expect(promoted(p)).toEqual({ kind: 'Promote', server: B });
    expect(p?.steps).toContainEqual({ kind: 'SwitchRouters', to: B, exclude: [A] });
    expect(p?.steps).toContainEqual({
      kind: 'StartReplication',
      server: C,
      from: B,
      gtidMode: 'current_pos',
      keepReadOnly: false,
    }); // As an unforced plan: the other replica goes back into the routers behind B, last.
    expect(p?.steps.at(-1)).toEqual({ kind: 'RestoreRouters', to: B });
    // With semi-sync configured, the forced promotion sets it up on the new topology too.
    const semi = forced(a, s, request({ target: B }), { ...held, semiSync: true });
    expect(semi?.steps).toContainEqual({ kind: 'SemiSync', server: B, role: 'primary' });
    expect(semi?.steps).toContainEqual({ kind: 'SemiSync', server: C, role: 'replica' });
  });

  it('refuses to fail over from a primary that answers: that is a switchover', () => {
    const s = servers([
      { id: A, pos: '0-1-12' },
      { id: B, pos: '0-1-12' },
    ]);
    const p = forced(analysis('Ok'), s, request({ target: B }));
    expect(p).toMatchObject({ kind: 'alert-only' });
    expect(p?.reason).toMatch(/answers: move it with a switchover/);
  });

  it('leaves a check whose analysis moves no primary as it is', () => {
    const s = servers([{ id: A, pos: '0-1-12' }]);
    expect(forced(analysis('RecoverNeeded', { affected: [B] }), s, request({ action: 'check' }))).toBeNull();
  });
});

describe('a forced split-brain resolution', () => {
  it('keeps the named side and fences the other once, the transactions it gives up allowed by name', () => {
    const split = analysis('SplitBrain', { primary: A, candidate: A, affected: [A, B] });
    const s = servers([
      { id: A, pos: '0-1-12' },
      { id: B, pos: '0-1-10,1-2-3' },
    ]);
    expect(forced(split, s, request({ target: C }))?.reason).toMatch(/not a configured server|not one of/);
    expect(forced(split, s, request({ target: B }))?.reason).toMatch(/lacks 2 transaction\(s\)/);
    const p = forced(split, s, request({ target: B, allowDataLoss: true }));
    expect(p).toMatchObject({ kind: 'operation', operation: 'split-brain' });
    expect(p?.steps.filter((x) => x.kind === 'Fence')).toEqual([
      { kind: 'Fence', server: A, ifReachable: true },
    ]);
    expect(p?.steps).toContainEqual({ kind: 'SwitchRouters', to: B, exclude: [A] });
  });
});

describe('a forced switchover', () => {
  const ok = analysis('Ok');

  it('needs its target named, and exempts what the old primary holds (its CatchUp waits for it)', () => {
    const s = servers([
      { id: A, pos: '0-1-15' },
      { id: B, pos: '0-1-12' },
    ]);
    expect(forced(ok, s, request({ action: 'switchover' }))?.reason).toMatch(/explicit target/);
    const p = forced(ok, s, request({ action: 'switchover', target: B }));
    expect(p).toMatchObject({ kind: 'operation', operation: 'switchover', forced: { target: B } });
  });

  it('refuses a target that lacks what another replica holds beyond the old primary', () => {
    const s = servers([
      { id: A, pos: '0-1-12' },
      { id: B, pos: '0-1-12' },
      { id: C, pos: '0-1-12,1-3-4' },
    ]);
    expect(forced(ok, s, request({ action: 'switchover', target: B }))?.reason).toMatch(
      /lacks 4 transaction\(s\) 10\.0\.0\.3:3306 holds/,
    );
  });
});

describe('a forced move in the history', () => {
  it('opens no anti-flap period and ends the one in force', () => {
    const change = { operation: 'failover' as const, from: A, to: B, at: NOW - 60_000, reason: 'x' };
    expect(antiFlapHold([{ ...change, forced: false }], NOW, 3600)).not.toBeNull();
    expect(antiFlapHold([{ ...change, forced: true }], NOW, 3600)).toBeNull();
  });
});

describe('the command line', () => {
  it('refuses --allow-data-loss or --reason without --force, before reading any configuration', async () => {
    const { main } = await import('../../../functions/cli.js');
    const err: string[] = [];
    const io = { out: () => {}, err: (t: string) => err.push(t), env: {} };
    expect(
      await main(['--now', '--action', 'failover', '--target', 'db2:3306', '--allow-data-loss'], io),
    ).toBe(2);
    expect(err.join('\n')).toMatch(/--allow-data-loss and --reason go with --force/);
  });
});
