/**
 * Detection in seconds, as `npm run package` builds it from deploy/sample.yml: the watchers' bus, one
 * rule per group starting its function, the backends' single PutEvents right, and the SSM document and
 * associations that install the watcher on each group's tagged backends.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { type CommandDocument, validateCommandDocument } from '../../../functions/routers/ssm-document.js';
import { type CfnResource, ensurePackaged, ROOT, readTemplate, type Template } from './packaged.js';

const require = createRequire(import.meta.url);
const { normalize } = require('../../../infra/deployment/config.cjs') as {
  normalize: (raw: unknown, opts: { service: string; stage: string }) => Deployment;
};
const detect = require('../../../infra/deployment/detect.cjs') as {
  WATCHER_SOURCE: string;
  WATCHER_DETAIL_TYPE: string;
};

interface Deployment {
  cluster: string;
  routers: { tagKey: string };
  groups: { name: string; functionName: string }[];
  watchdog?: { groups?: { name: string; routerKind: string; configPath: string; section?: string }[] };
}
const sample = normalize(parseYaml(readFileSync(join(ROOT, 'deploy', 'sample.yml'), 'utf8')), {
  service: 'mysql-failover',
  stage: 'sample',
});

let template: Template;
const ofType = (type: string): [string, CfnResource][] =>
  Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
const functionId = (name: string): string =>
  ofType('AWS::Lambda::Function').find(([, f]) => f.Properties.FunctionName === name)![0];
const arnOf = (value: unknown): string | undefined =>
  (value as { 'Fn::GetAtt'?: string[] })['Fn::GetAtt']?.[0];

interface PolicyStatement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}
function statementsOf(role: CfnResource): PolicyStatement[] {
  const policies = (role.Properties.Policies ?? []) as { PolicyDocument: { Statement: PolicyStatement[] } }[];
  return policies.flatMap((p) => p.PolicyDocument.Statement);
}
const actions = (s: PolicyStatement): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);

beforeAll(() => {
  ensurePackaged();
  template = readTemplate();
}, 170_000);

describe('detection by the backend watchers', () => {
  it('has its own event bus', () => {
    const buses = ofType('AWS::Events::EventBus');
    expect(buses).toHaveLength(1);
    expect(buses[0]![0]).toBe('DetectionEventBus');
    expect(buses[0]![1].Properties.Name).toBe('mysql-failover-sample-detect');
  });

  it('starts each group function on its own watchers events, on that bus only, with the event unchanged', () => {
    for (const group of sample.groups) {
      const rules = ofType('AWS::Events::Rule').filter(
        ([, rule]) =>
          (rule.Properties.Targets as { Arn: unknown }[]).some(
            (t) => arnOf(t.Arn) === functionId(group.functionName),
          ) &&
          (rule.Properties.EventPattern as { source?: string[] } | undefined)?.source?.[0] ===
            detect.WATCHER_SOURCE,
      );
      expect(rules).toHaveLength(1);
      const rule = rules[0]![1];
      expect(arnOf(rule.Properties.EventBusName)).toBe('DetectionEventBus');
      expect(rule.Properties.EventPattern).toEqual({
        source: [detect.WATCHER_SOURCE],
        'detail-type': [detect.WATCHER_DETAIL_TYPE],
        detail: { cluster: [sample.cluster], group: [group.name] },
      });
      const target = (rule.Properties.Targets as Record<string, unknown>[])[0]!;
      expect(target.Input).toBeUndefined();
      expect(target.InputTransformer).toBeUndefined();
    }
  });

  it('lets the backends send only the watcher event, only to that bus; the watchdog roles send none', () => {
    const backend = template.Resources.BackendInstanceRole!;
    const events = statementsOf(backend).filter((s) => actions(s).some((a) => a.startsWith('events:')));
    expect(events).toEqual([
      {
        Sid: 'SendWatcherEvents',
        Effect: 'Allow',
        Action: ['events:PutEvents'],
        Resource: [{ 'Fn::GetAtt': ['DetectionEventBus', 'Arn'] }],
        Condition: {
          StringEquals: {
            'events:source': detect.WATCHER_SOURCE,
            'events:detail-type': detect.WATCHER_DETAIL_TYPE,
          },
        },
      },
    ]);
    for (const [id, role] of ofType('AWS::IAM::Role')) {
      if (id === 'BackendInstanceRole') continue;
      expect(
        statementsOf(role)
          .flatMap(actions)
          .filter((a) => a.startsWith('events:')),
      ).toEqual([]);
    }
  });

  it('installs the watcher on each group tagged backends with the group router settings, re-applied daily', () => {
    const associations = ofType('AWS::SSM::Association');
    expect(associations).toHaveLength(sample.groups.length);
    for (const group of sample.groups) {
      const settings = sample.watchdog?.groups?.find((g) => g.name === group.name);
      const found = associations.find(
        ([, a]) => (a.Properties.Parameters as { Group: string[] }).Group[0] === group.name,
      );
      expect(found, `association of ${group.name}`).toBeDefined();
      const a = found![1].Properties;
      expect(a.Name).toEqual({ Ref: 'WatcherInstallDocument' });
      expect(a.Targets).toEqual([{ Key: `tag:${sample.routers.tagKey}`, Values: [group.name] }]);
      expect(a.ScheduleExpression).toBe('rate(1 day)');
      expect(a.Parameters).toEqual({
        Cluster: [sample.cluster],
        Group: [group.name],
        RouterKind: [settings!.routerKind],
        ConfigPath: [settings!.configPath],
        Section: [settings!.section ?? 'mysql_failover'],
        EventBus: ['mysql-failover-sample-detect'],
      });
    }
  });

  it('carries the watcher script verbatim in a valid Command document whose parameters are all constrained', () => {
    const document = template.Resources.WatcherInstallDocument!.Properties.Content as CommandDocument;
    expect(validateCommandDocument(document)).toEqual([]);
    const runCommand = document.mainSteps[0]!.inputs.runCommand;
    expect(`${runCommand[1]}\n`).toBe(readFileSync(join(ROOT, 'infra', 'watcher', 'watcher.sh'), 'utf8'));
    for (const [name, spec] of Object.entries(document.parameters)) {
      expect(spec.interpolationType, name).toBe('ENV_VAR');
      expect(spec.allowedPattern, name).toBeDefined();
    }
    expect(JSON.stringify(document).length).toBeLessThan(60 * 1024);
  });
});
