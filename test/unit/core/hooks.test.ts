/**
 * Hooks in a plan (core/hooks.ts) and their configuration (config/schema.ts `hooks`). Pure.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../functions/config/schema.js';
import { hookSpecs, withHooks } from '../../../functions/core/hooks.js';
import { plan } from '../../../functions/core/planner.js';
import { ConfigError } from '../../../functions/errors.js';
import { A, analysis, B, NOW } from './policy-fixtures.js';

const minimal = {
  clusterName: 'prod',
  servers: [A, B],
  groups: [{ name: 'g1', routerKind: 'haproxy', routers: ['10.0.2.1:7001'] }],
};

const hooks = hookSpecs(
  parseConfig(
    {
      ...minimal,
      hooks: {
        preFailover: { lambda: 'dns-guard', timeoutSeconds: 5, onNoAnswer: 'veto' },
        postFailover: { ssmDocument: 'UpdateVip', instanceIds: ['i-0123456789abcdef0'] },
        postSwitchover: { snsTopicArn: 'arn:aws:sns:eu-west-1:123456789012:db-moves' },
      },
    },
    'test',
  ).hooks,
);

const dead = analysis('PrimaryDead', { primary: B, candidate: B, oldPrimary: A });

describe('hooks in a plan', () => {
  it('asks the pre-failover hook before anything is fenced, and tells the post hook once the routers are verified', () => {
    const p = withHooks(plan(dead, { now: NOW }), hooks);
    const kinds = p.steps.map((s) => s.kind);
    expect(kinds[0]).toBe('Hook');
    expect(kinds[1]).toBe('Fence');
    const post = kinds.indexOf('Hook', 1);
    expect(kinds[post - 1]).toBe('VerifyRouters');
    expect(p.steps[0]).toMatchObject({
      phase: 'pre-failover',
      hook: { via: 'lambda', target: 'dns-guard', timeoutSeconds: 5, onNoAnswer: 'veto' },
      operation: 'promote-dead',
      from: A,
      to: B,
      forced: false,
    });
    expect(p.steps[post]).toMatchObject({
      phase: 'post-failover',
      hook: { via: 'ssm', target: 'UpdateVip', instanceIds: ['i-0123456789abcdef0'], timeoutSeconds: 30 },
    });
  });

  it('tells the post-switchover hook after a switchover, and asks no pre-failover hook there', () => {
    const p = withHooks(
      plan(analysis('Ok'), { now: NOW, requested: 'switchover', switchoverTo: B, servers: [A, B] }),
      hooks,
    );
    const found = p.steps.filter((s) => s.kind === 'Hook');
    expect(found).toMatchObject([{ phase: 'post-switchover', hook: { via: 'sns' }, from: A, to: B }]);
  });

  it('leaves plans that move no primary alone', () => {
    const recover = plan(analysis('RecoverNeeded', { affected: [B] }), { now: NOW });
    expect(withHooks(recover, hooks)).toBe(recover);
    const alert = plan(analysis('ReplicaDown', { affected: [B] }), { now: NOW });
    expect(withHooks(alert, hooks)).toBe(alert);
  });
});

describe('hook configuration', () => {
  const invalid = (h: unknown) => {
    try {
      parseConfig({ ...minimal, hooks: h }, 'test');
    } catch (error) {
      if (error instanceof ConfigError) return error.message;
      throw error;
    }
    return null;
  };

  it('defaults a pre-failover hook that does not answer to proceed', () => {
    expect(
      hookSpecs(parseConfig({ ...minimal, hooks: { preFailover: { command: 'true' } } }, 't').hooks),
    ).toEqual({
      preFailover: { via: 'command', target: 'true', timeoutSeconds: 30, onNoAnswer: 'proceed' },
    });
  });

  it('refuses a hook of no kind or two kinds, an SSM document without instances, a topic asked to veto', () => {
    expect(invalid({ postFailover: {} })).toMatch(/exactly one of command, lambda, ssmDocument, snsTopicArn/);
    expect(invalid({ postFailover: { command: 'x', lambda: 'f' } })).toMatch(/got command, lambda/);
    expect(invalid({ postFailover: { ssmDocument: 'Doc' } })).toMatch(/instanceIds: goes with ssmDocument/);
    expect(invalid({ preFailover: { snsTopicArn: 'arn:aws:sns:eu-west-1:123456789012:t' } })).toMatch(
      /a topic cannot answer/,
    );
    expect(invalid({ postSwitchover: { command: 'x', onNoAnswer: 'veto' } })).toMatch(
      /only a pre-failover hook can veto/,
    );
    expect(invalid({ preFailover: { lambda: 'bad name!' } })).toMatch(/Lambda function name or ARN/);
  });
});
