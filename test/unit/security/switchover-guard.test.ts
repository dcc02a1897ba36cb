import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../functions/config/schema.js';
import type { Analysis } from '../../../functions/core/analysis.js';
import { canonicalServerId, plan, stepServers } from '../../../functions/core/planner.js';
import { ConfigError } from '../../../functions/errors.js';
import { executeOperation } from '../../../functions/operations/execute.js';

const config = parseConfig(
  {
    clusterName: 'prod',
    servers: ['10.0.1.11:3306', '10.0.1.12:3306'],
    groups: [{ name: 'g1', routerKind: 'haproxy', routers: ['10.0.2.1:7001'] }],
    credentials: { watchdog: { user: 'watchdog', password: 's3cret' } },
  },
  'test',
);

const ok: Analysis = {
  code: 'Ok',
  description: 'healthy',
  evidence: [],
  primary: '10.0.1.11:3306',
  candidate: null,
  oldPrimary: null,
  affected: [],
  errant: [],
  routers: { total: 1, answering: 1, targets: { '10.0.1.11:3306': 1 } },
  also: [],
  takenAt: new Date(0).toISOString(),
};
const ctx = { now: 1_000, servers: ['10.0.1.11:3306', '10.0.1.12:3306'], requested: 'switchover' as const };

describe('switchover guard (finding 1)', () => {
  it('plans only to a configured replica, spelled either way', () => {
    expect(plan(ok, { ...ctx, switchoverTo: '10.0.9.9:3306' })).toMatchObject({
      kind: 'alert-only',
      reason: expect.stringContaining('10.0.9.9:3306 is not a configured server'),
    });
    expect(plan(ok, { ...ctx, switchoverTo: '10.0.1.12:03306' })).toMatchObject({
      kind: 'operation',
      operation: 'switchover',
    });
    expect(canonicalServerId('db1:003306')).toBe('db1:3306');
  });

  it('honours the anti-flap period unless forced', () => {
    const held = plan(ok, { ...ctx, switchoverTo: '10.0.1.12:3306', antiFlapUntil: 2_000 });
    expect(held).toMatchObject({ kind: 'alert-only', reason: expect.stringContaining('anti-flap') });
    const forced = plan(ok, { ...ctx, switchoverTo: '10.0.1.12:3306', antiFlapUntil: 2_000, force: true });
    expect(forced.kind).toBe('operation');
  });

  it('refuses a replica the analysis names as affected', () => {
    const p = plan({ ...ok, affected: ['10.0.1.12:3306'] }, { ...ctx, switchoverTo: '10.0.1.12:3306' });
    expect(p).toMatchObject({ kind: 'alert-only', reason: expect.stringContaining('not a healthy replica') });
  });

  it('resolves every step server before the first step runs: nothing is touched for an unknown one', async () => {
    const p = plan(ok, { ...ctx, switchoverTo: '10.0.1.12:3306' });
    expect(p.steps.flatMap(stepServers).every((s) => ctx.servers.includes(s))).toBe(true);
    const touched: string[] = [];
    const never = (what: string) => () => {
      touched.push(what);
      throw new Error(`${what} must not be reached`);
    };
    const bad = {
      ...p,
      steps: [
        { kind: 'Fence' as const, server: '10.0.1.11:3306', ifReachable: false },
        { kind: 'Promote' as const, server: '10.0.9.9:3306' },
      ],
    };
    await expect(
      executeOperation(
        { config, groups: ['g1'], plan: bad, analysis: ok, snapshot: { servers: [], routers: [] } as never },
        {
          routers: { switch: never('routers'), status: never('routers') } as never,
          store: never('store'),
          observe: never('observe') as never,
        },
      ),
    ).rejects.toBeInstanceOf(ConfigError);
    expect(touched).toEqual([]);
  });
});
