// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${...} are CloudFormation Fn::Sub placeholders.
/**
 * Operator hooks named in the stage's `watchdog:` block get exactly the permissions they need on the
 * function's role: a Lambda hook `lambda:InvokeFunction` on that function, an SSM document hook
 * `ssm:SendCommand` on that document and those instances, an SNS hook `sns:Publish` on that topic.
 * Nothing more, and nothing when no hook is configured.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ROOT } from './packaged.js';

const require = createRequire(import.meta.url);
const { normalize } = require('../../../infra/deployment/config.cjs') as {
  normalize: (raw: unknown, opts: { service: string; stage: string }) => Deployment;
};
const { statementsFor } = require('../../../infra/deployment/iam.cjs') as {
  statementsFor: (d: Deployment, group: Deployment['groups'][number]) => Statement[];
};

interface Deployment {
  groups: { name: string; functionName: string }[];
  watchdog?: Record<string, unknown>;
}
interface Statement {
  Sid?: string;
  Action: string[];
  Resource: unknown;
}

function deploymentWith(hooks: unknown): Deployment {
  const raw = parseYaml(readFileSync(join(ROOT, 'deploy', 'sample.yml'), 'utf8')) as {
    watchdog: Record<string, unknown>;
  };
  if (hooks !== undefined) raw.watchdog.hooks = hooks;
  return normalize(raw, { service: 'mysql-failover', stage: 'sample' });
}

function hookStatements(d: Deployment): Statement[] {
  const group = d.groups[0]!;
  return statementsFor(d, group).filter((s) => s.Sid?.startsWith('Hook'));
}

const ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:dns-guard';

describe('permissions for the configured hooks', () => {
  it('grants nothing for hooks when none is configured', () => {
    expect(hookStatements(deploymentWith(undefined))).toEqual([]);
  });

  it('grants each hook exactly its own target', () => {
    const d = deploymentWith({
      preFailover: { lambda: 'dns-guard', timeoutSeconds: 10 },
      postFailover: { ssmDocument: 'UpdateVip', instanceIds: ['i-0123456789abcdef0'] },
      postSwitchover: { snsTopicArn: 'arn:aws:sns:eu-west-1:123456789012:db-moves' },
    });
    const grants = hookStatements(d).map((s) => ({ action: s.Action, resource: JSON.stringify(s.Resource) }));
    expect(grants).toEqual([
      {
        action: ['lambda:InvokeFunction'],
        resource: JSON.stringify([
          { 'Fn::Sub': 'arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:dns-guard' },
        ]),
      },
      {
        action: ['ssm:SendCommand'],
        resource: JSON.stringify([
          { 'Fn::Sub': 'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:document/UpdateVip' },
          {
            'Fn::Sub':
              'arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/i-0123456789abcdef0',
          },
        ]),
      },
      {
        action: ['sns:Publish'],
        resource: JSON.stringify(['arn:aws:sns:eu-west-1:123456789012:db-moves']),
      },
    ]);
  });

  it('takes a Lambda function or document given by ARN as it is', () => {
    const d = deploymentWith({
      preFailover: { lambda: ARN },
      postFailover: {
        ssmDocument: 'arn:aws:ssm:eu-west-1:123456789012:document/UpdateVip',
        instanceIds: ['i-0123456789abcdef0', 'i-0fedcba9876543210'],
      },
    });
    const resources = hookStatements(d).flatMap((s) => s.Resource as unknown[]);
    expect(resources).toContain(ARN);
    expect(resources).toContain('arn:aws:ssm:eu-west-1:123456789012:document/UpdateVip');
    expect(resources).toHaveLength(4);
  });

  it('grants nothing for a local command hook (it runs only in the CLI and the sandbox)', () => {
    expect(
      hookStatements(deploymentWith({ postFailover: { command: '/usr/local/bin/dns-switch' } })),
    ).toEqual([]);
  });
});
