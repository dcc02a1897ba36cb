/**
 * The CloudFormation template that `npm run package` builds offline from deploy/sample.yml: one function
 * per backend group with its three triggers, the infra resources, and least-privilege roles.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../../functions/config/schema.js';
import { ACCOUNT, documentedWildcardActions, render, roleStatements, type Statement } from './cfn.js';
import { type CfnResource, ensurePackaged, ROOT, readTemplate, TEMPLATE, type Template } from './packaged.js';

const require = createRequire(import.meta.url);
const { normalize } = require('../../../infra/deployment/config.cjs') as {
  normalize: (raw: unknown, opts: { service: string; stage: string }) => Deployment;
};

interface Group {
  name: string;
  key: string;
  id: string;
  functionName: string;
  alarms: string[];
  alarmTopicArn?: string;
}
interface Deployment {
  region: string;
  cluster: string;
  configSsmPath: string;
  secrets: { database: string; replication: string; kmsKeyArn?: string };
  vpc?: { subnetIds: string[]; securityGroupIds: string[] };
  routers: { tagKey: string; discoverByTag: boolean };
  dumps: { prefix: string; encryption: string; kmsKeyArn?: string; expireAfterDays: number };
  function: { metricsNamespace: string; memorySize: number; reservedConcurrency: number | null };
  groups: Group[];
  powertoolsServiceName: string;
}

const sample = normalize(parseYaml(readFileSync(join(ROOT, 'deploy', 'sample.yml'), 'utf8')), {
  service: 'mysql-failover',
  stage: 'sample',
});
const REGION = sample.region;

let template: Template;
const r = (value: unknown): string => render(value, REGION);

function ofType(type: string): [string, CfnResource][] {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}
function functionOf(group: Group): [string, CfnResource] {
  const found = ofType('AWS::Lambda::Function').find(
    ([, f]) => f.Properties.FunctionName === group.functionName,
  );
  if (!found) throw new Error(`no function ${group.functionName}`);
  return found;
}
/** The logical id a target or permission names: `{Fn::GetAtt: [Id, Arn]}` or `{Ref: Id}`. */
function targetId(value: unknown): string {
  const v = value as { 'Fn::GetAtt'?: [string, string]; Ref?: string };
  return v['Fn::GetAtt']?.[0] ?? v.Ref ?? JSON.stringify(value);
}
function rulesTargeting(functionId: string): [string, CfnResource][] {
  return ofType('AWS::Events::Rule').filter(([, rule]) =>
    (rule.Properties.Targets as { Arn: unknown }[]).some((t) => targetId(t.Arn) === functionId),
  );
}

beforeAll(() => {
  ensurePackaged();
  template = readTemplate();
}, 170_000);

describe('functions', () => {
  it('generates one function per backend group of the deployment config', () => {
    const names = ofType('AWS::Lambda::Function').map(([, f]) => f.Properties.FunctionName);
    expect(names.sort()).toEqual(sample.groups.map((g) => g.functionName).sort());
  });

  it('runs nodejs22.x on arm64 for up to 15 minutes with the configured memory and concurrency', () => {
    for (const group of sample.groups) {
      const [, fn] = functionOf(group);
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Timeout: 900,
        MemorySize: sample.function.memorySize,
        Handler: 'functions/watchdog.handler',
        ReservedConcurrentExecutions: sample.function.reservedConcurrency,
      });
    }
  });

  it('runs in the configured VPC subnets and security groups', () => {
    for (const group of sample.groups) {
      expect(functionOf(group)[1].Properties.VpcConfig).toEqual({
        SubnetIds: sample.vpc?.subnetIds,
        SecurityGroupIds: sample.vpc?.securityGroupIds,
      });
    }
  });

  it('points the environment at the group, the SSM path, the secrets, the bucket, the topic and the document', () => {
    for (const group of sample.groups) {
      const env = (functionOf(group)[1].Properties.Environment as { Variables: Record<string, unknown> })
        .Variables;
      const rendered = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, r(v)]));
      expect(rendered).toMatchObject({
        GROUP: group.name,
        CONFIG_SSM_PATH: sample.configSsmPath,
        DB_SECRET_ARN: sample.secrets.database,
        REPLICATION_SECRET_ARN: sample.secrets.replication,
        DUMPS_URL: `s3://<DumpsBucket>/${sample.dumps.prefix}`,
        SNS_TOPIC_ARN: '<NotificationsTopic>',
        ROUTER_DOCUMENT: 'mysql-failover-sample-router-switch',
        ROUTER_TAG_KEY: sample.routers.tagKey,
        METRICS_NAMESPACE: sample.function.metricsNamespace,
        POWERTOOLS_SERVICE_NAME: sample.powertoolsServiceName,
      });
      // The dumps bucket is the stack's own: every S3 request names this account as its owner.
      expect(env.S3_EXPECTED_BUCKET_OWNER).toEqual({ Ref: 'AWS::AccountId' });
    }
  });

  it('gives every function its own role, and no shared default role exists', () => {
    const roles = sample.groups.map((g) => targetId(functionOf(g)[1].Properties.Role));
    expect(new Set(roles).size).toBe(sample.groups.length);
    expect(template.Resources.IamRoleLambdaExecution).toBeUndefined();
  });

  it('does not retry a failed asynchronous run and reports dropped runs on the topic', () => {
    for (const group of sample.groups) {
      const [id] = functionOf(group);
      const config = ofType('AWS::Lambda::EventInvokeConfig').find(
        ([, c]) => targetId(c.Properties.FunctionName) === id,
      );
      expect(config?.[1].Properties).toMatchObject({
        MaximumRetryAttempts: 0,
        DestinationConfig: { OnFailure: { Destination: { Ref: 'NotificationsTopic' } } },
      });
    }
  });
});

describe('triggers', () => {
  it('takes the schedule rate from the deployment config (default 10 minutes)', () => {
    const { build } = require('../../../infra/deployment/index.cjs') as {
      build: (d: unknown) => { functions: Record<string, { events: { schedule?: { rate: string[] } }[] }> };
    };
    const raw = parseYaml(readFileSync(join(ROOT, 'deploy', 'sample.yml'), 'utf8')) as Record<
      string,
      Record<string, unknown>
    >;
    const every5 = normalize(
      { ...raw, function: { ...raw.function, scheduleRateMinutes: 5 } },
      {
        service: 'mysql-failover',
        stage: 'sample',
      },
    );
    const fns = Object.values(build(every5).functions);
    expect(fns.map((f) => f.events.find((e) => e.schedule)?.schedule?.rate)).toEqual(
      fns.map(() => ['rate(5 minutes)']),
    );
  });

  it('schedules a check of each group every 10 minutes with the group in the input', () => {
    for (const group of sample.groups) {
      const [id] = functionOf(group);
      const schedules = rulesTargeting(id).filter(([, rule]) => rule.Properties.ScheduleExpression);
      expect(schedules).toHaveLength(1);
      const rule = schedules[0]![1];
      expect(rule.Properties.ScheduleExpression).toBe('rate(10 minutes)');
      expect(rule.Properties.State).toBe('ENABLED');
      const target = (rule.Properties.Targets as { Input: string }[])[0]!;
      expect(JSON.parse(target.Input)).toEqual({ source: 'schedule', group: group.name });
    }
  });

  it('starts a check of the group when one of its alarms goes to ALARM, passing the alarm event unchanged', () => {
    for (const group of sample.groups) {
      const [id] = functionOf(group);
      const alarmRules = rulesTargeting(id).filter(
        ([, rule]) =>
          (rule.Properties.EventPattern as { source?: string[] } | undefined)?.source?.[0] ===
          'aws.cloudwatch',
      );
      expect(alarmRules).toHaveLength(1);
      const rule = alarmRules[0]![1];
      expect(rule.Properties.EventPattern).toEqual({
        source: ['aws.cloudwatch'],
        'detail-type': ['CloudWatch Alarm State Change'],
        detail: { alarmName: group.alarms, state: { value: ['ALARM'] } },
      });
      const target = (rule.Properties.Targets as Record<string, unknown>[])[0]!;
      // No Input / InputTransformer: the handler parses the original event, the group is the function's.
      expect(target.Input).toBeUndefined();
      expect(target.InputTransformer).toBeUndefined();
    }
  });

  it('subscribes a group to its optional SNS alarm topic', () => {
    const subscriptions = ofType('AWS::SNS::Subscription').filter(
      ([, s]) => s.Properties.Protocol === 'lambda',
    );
    const expected = sample.groups.filter((g) => g.alarmTopicArn);
    expect(subscriptions).toHaveLength(expected.length);
    for (const group of expected) {
      const [id] = functionOf(group);
      const sub = subscriptions.find(([, s]) => targetId(s.Properties.Endpoint) === id);
      expect(sub?.[1].Properties.TopicArn).toBe(group.alarmTopicArn);
    }
  });

  it('lets only its own rules and topics invoke each function', () => {
    const permissions = ofType('AWS::Lambda::Permission');
    expect(permissions.length).toBeGreaterThan(0);
    for (const [, permission] of permissions) {
      const p = permission.Properties;
      const fnId = targetId(p.FunctionName);
      expect(p.Action).toBe('lambda:InvokeFunction');
      expect(p.SourceArn, 'every invoke permission names its source').toBeDefined();
      if (p.Principal === 'events.amazonaws.com') {
        const source = r(p.SourceArn);
        const rules = rulesTargeting(fnId).map(([ruleId, rule]) => {
          const name = rule.Properties.Name as string | undefined;
          // A rule on a custom bus (the watchers' events) is rule/<bus>/<name>.
          const bus = rule.Properties.EventBusName === undefined ? '' : `${r(rule.Properties.EventBusName)}/`;
          return { ruleId, name, bus };
        });
        const matches = rules.some(
          ({ ruleId, name, bus }) =>
            targetId(p.SourceArn) === ruleId ||
            (name !== undefined && source === `arn:aws:events:${REGION}:${ACCOUNT}:rule/${bus}${name}`),
        );
        expect(matches, `permission source ${source} is a rule targeting ${fnId}`).toBe(true);
      } else if (p.Principal === 'sns.amazonaws.com') {
        const group = sample.groups.find((g) => functionOf(g)[0] === fnId);
        expect(p.SourceArn).toBe(group?.alarmTopicArn);
      } else {
        throw new Error(`unexpected invoke principal ${String(p.Principal)}`);
      }
    }
  });
});

describe('dumps bucket', () => {
  const bucket = (): Record<string, unknown> => template.Resources.DumpsBucket!.Properties;

  it('encrypts objects by default', () => {
    expect(bucket().BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    });
  });

  it('blocks every kind of public access', () => {
    expect(bucket().PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
  });

  it('denies every request that does not use TLS, on the bucket and its objects', () => {
    const policy = template.Resources.DumpsBucketPolicy!.Properties;
    expect(policy.Bucket).toEqual({ Ref: 'DumpsBucket' });
    const statements = (policy.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement;
    const deny = statements.find((s) => s.Effect === 'Deny');
    expect(deny).toMatchObject({
      Principal: '*',
      Action: 's3:*',
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    });
    expect((deny!.Resource as unknown[]).map(r).sort()).toEqual(
      ['arn:aws:s3:::<DumpsBucket>', 'arn:aws:s3:::<DumpsBucket>/*'].sort(),
    );
  });

  it('expires only reseed dumps, never salvage or audit records, and aborts abandoned multipart uploads', () => {
    const rules = (bucket().LifecycleConfiguration as { Rules: Record<string, unknown>[] }).Rules;
    expect(rules).toContainEqual(
      expect.objectContaining({
        Status: 'Enabled',
        Prefix: `${sample.dumps.prefix}/dumps/`,
        ExpirationInDays: sample.dumps.expireAfterDays,
        NoncurrentVersionExpiration: { NoncurrentDays: sample.dumps.expireAfterDays },
      }),
    );
    expect(rules).toContainEqual(
      expect.objectContaining({
        Prefix: `${sample.dumps.prefix}/`,
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
      }),
    );
    // No rule that expires anything covers the records (operations/<cluster>/<epoch>/salvage-*, audit).
    const record = `${sample.dumps.prefix}/operations/shop/000001/salvage-db1/transactions.sql`;
    for (const rule of rules) {
      const expires = rule.ExpirationInDays !== undefined || rule.NoncurrentVersionExpiration !== undefined;
      if (expires) expect(record.startsWith(String(rule.Prefix)), String(rule.Id)).toBe(false);
    }
  });

  it('keeps every version of an object (a record the function overwrites is not lost)', () => {
    expect(bucket().VersioningConfiguration).toEqual({ Status: 'Enabled' });
  });

  it('gives the function no way to delete an object or a version', () => {
    const actions = ofType('AWS::IAM::Role')
      .filter(([id]) => id.endsWith('WatchdogRole'))
      .flatMap(([, role]) =>
        (
          role.Properties.Policies as {
            PolicyDocument: { Statement: { Effect: string; Action: string | string[] }[] };
          }[]
        )
          .flatMap((p) => p.PolicyDocument.Statement)
          .filter((st) => st.Effect === 'Allow')
          .flatMap((st) => (Array.isArray(st.Action) ? st.Action : [st.Action])),
      );
    expect(actions.filter((a) => /^s3:(\*|Delete|PutLifecycle|PutBucketVersioning)/.test(a))).toEqual([]);
  });

  it('keeps the bucket when the stack is deleted', () => {
    expect(template.Resources.DumpsBucket!.DeletionPolicy).toBe('Retain');
  });
});

describe('every bucket', () => {
  it('blocks public access, is encrypted, and refuses requests without TLS', () => {
    const buckets = ofType('AWS::S3::Bucket');
    expect(buckets.map(([id]) => id).sort()).toEqual(['DumpsBucket', 'ServerlessDeploymentBucket']);
    const policies = ofType('AWS::S3::BucketPolicy').map(([, p]) => p.Properties);
    for (const [id, b] of buckets) {
      expect(b.Properties.PublicAccessBlockConfiguration, id).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      const sse = (b.Properties.BucketEncryption as { ServerSideEncryptionConfiguration: unknown[] })
        .ServerSideEncryptionConfiguration;
      expect(sse.length, id).toBeGreaterThan(0);
      const policy = policies.find((p) => JSON.stringify(p.Bucket) === JSON.stringify({ Ref: id }));
      expect(policy, `${id} policy`).toBeDefined();
      const statements = (policy!.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement;
      expect(
        statements.some(
          (st) =>
            st.Effect === 'Deny' &&
            String((st.Condition as { Bool: Record<string, unknown> }).Bool['aws:SecureTransport']) ===
              'false',
        ),
        id,
      ).toBe(true);
    }
  });
});

describe('router switch documents', () => {
  const kinds = ['Haproxy', 'Mysqlrouter', 'Proxysql'];
  const doc = (kind: string): CfnResource => template.Resources[`RouterSwitch${kind}Document`]!;

  it('are Command documents, one per router kind, named after the base name the function gets', () => {
    for (const kind of kinds) {
      expect(doc(kind).Type).toBe('AWS::SSM::Document');
      expect(doc(kind).Properties.DocumentType).toBe('Command');
      expect((doc(kind).Properties.Content as { schemaVersion: string }).schemaVersion).toBe('2.2');
      expect(doc(kind).Properties.Name).toBe(`mysql-failover-sample-router-switch-${kind.toLowerCase()}`);
    }
  });

  it('constrain every parameter with a pattern or a list of values', () => {
    for (const kind of kinds) {
      const parameters = (
        doc(kind).Properties.Content as { parameters?: Record<string, Record<string, unknown>> }
      ).parameters;
      expect(Object.keys(parameters ?? {}).length).toBeGreaterThan(0);
      for (const [name, parameter] of Object.entries(parameters ?? {})) {
        const constrained =
          typeof parameter.allowedPattern === 'string' ||
          (Array.isArray(parameter.allowedValues) && parameter.allowedValues.length > 0);
        expect(constrained, `${kind} parameter ${name} has allowedPattern or allowedValues`).toBe(true);
      }
    }
  });
});

describe('stored watchdog configuration', () => {
  it("passes the watchdog's own schema and serves exactly the deployed groups", () => {
    const parameter = template.Resources.WatchdogConfigParameter!.Properties;
    expect(parameter.Name).toBe(`${sample.configSsmPath}/config`);
    expect(parameter.Type).toBe('String');
    // What the function will see: this document plus DUMPS_URL from its environment.
    const config = parseConfig(
      { ...JSON.parse(parameter.Value as string), objectStore: 's3://example-bucket/mysql-failover/shop' },
      'template',
    );
    expect(config.clusterName).toBe(sample.cluster);
    expect(config.groups.map((g) => g.name).sort()).toEqual(sample.groups.map((g) => g.name).sort());
    expect(JSON.stringify(config)).not.toMatch(/password/i);
  });
});

describe('notifications and monitoring', () => {
  it('alarms per group on dropped asynchronous events and on silence (one late run tolerated)', () => {
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    for (const group of sample.groups) {
      const mine = alarms.filter(
        (a) =>
          JSON.stringify(a.Dimensions).includes(`"${group.name}"`) ||
          JSON.stringify(a.Dimensions).includes(group.functionName),
      );
      const byMetric = (name: string) => mine.filter((a) => a.MetricName === name);
      expect(byMetric('AsyncEventsDropped')[0]).toMatchObject({ Namespace: 'AWS/Lambda', Threshold: 1 });
      const silent = byMetric('ClusterState').find((a) => a.Statistic === 'SampleCount');
      expect(silent).toMatchObject({
        Period: 600,
        EvaluationPeriods: 2,
        DatapointsToAlarm: 2,
        ComparisonOperator: 'LessThanThreshold',
        TreatMissingData: 'breaching',
        Dimensions: [
          { Name: 'service', Value: sample.powertoolsServiceName },
          { Name: 'cluster', Value: sample.cluster },
          { Name: 'group', Value: group.name },
        ],
      });
    }
  });

  it('alarms once for the whole cluster on failed cycles, failed steps, its state and its degradation', () => {
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    const clusterWide = [
      { Name: 'service', Value: sample.powertoolsServiceName },
      { Name: 'cluster', Value: sample.cluster },
    ];
    const named = (suffix: string) => alarms.filter((a) => a.AlarmName === `mysql-failover-sample-${suffix}`);
    for (const suffix of ['failed-cycle', 'failed-steps', 'cluster-state', 'cluster-degraded']) {
      expect(named(suffix), suffix).toHaveLength(1);
      expect(named(suffix)[0]).toMatchObject({
        Namespace: sample.function.metricsNamespace,
        Dimensions: clusterWide,
        AlarmActions: [{ Ref: 'NotificationsTopic' }],
        OKActions: [{ Ref: 'NotificationsTopic' }],
      });
    }
    expect(named('failed-cycle')[0]).toMatchObject({
      MetricName: 'FailedCycle',
      Statistic: 'Sum',
      Threshold: 1,
      TreatMissingData: 'notBreaching',
    });
    expect(named('failed-steps')[0]).toMatchObject({
      MetricName: 'OperationStepsFailed',
      Statistic: 'Sum',
      Threshold: 1,
    });
    expect(named('cluster-state')[0]).toMatchObject({
      MetricName: 'ClusterState',
      Statistic: 'Maximum',
      Threshold: 2,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    // Maximum: one group's degraded view is not hidden by another group's Ok.
    expect(named('cluster-degraded')[0]).toMatchObject({
      MetricName: 'ClusterState',
      Statistic: 'Maximum',
      EvaluationPeriods: 3,
      Threshold: 1,
    });
  });

  it('alarms on each function errors, notifying the topic', () => {
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    for (const group of sample.groups) {
      const errors = alarms.find(
        (a) =>
          a.MetricName === 'Errors' &&
          a.Namespace === 'AWS/Lambda' &&
          JSON.stringify(a.Dimensions) ===
            JSON.stringify([{ Name: 'FunctionName', Value: group.functionName }]),
      );
      expect(errors, `errors alarm of ${group.name}`).toBeDefined();
      expect(errors?.AlarmActions).toEqual([{ Ref: 'NotificationsTopic' }]);
    }
  });

  it('shows state, operations and durations of every group on the dashboard', () => {
    const body = JSON.parse(template.Resources.Dashboard!.Properties.DashboardBody as string) as {
      widgets: { type: string; properties: { metrics?: unknown[][]; query?: string } }[];
    };
    const metrics = body.widgets.flatMap((w) => w.properties.metrics ?? []);
    for (const name of ['ClusterState', 'Operations', 'OperationDurationMs']) {
      for (const group of sample.groups) {
        expect(
          metrics.some(
            (m) => m[0] === sample.function.metricsNamespace && m[1] === name && m.includes(group.name),
          ),
          `${name} of ${group.name}`,
        ).toBe(true);
      }
    }
    // The check duration comes from the reports in every group's log, not from a metric series.
    const checks = body.widgets.find((w) => w.properties.query?.includes('report.timings.totalMs'));
    expect(checks?.type).toBe('log');
    for (const group of sample.groups) expect(checks?.properties.query).toContain(group.functionName);
  });

  it('creates the notifications topic and the example backend instance profile', () => {
    expect(template.Resources.NotificationsTopic?.Type).toBe('AWS::SNS::Topic');
    const role = template.Resources.BackendInstanceRole!.Properties;
    expect((role.ManagedPolicyArns as unknown[]).map(r)).toEqual([
      'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore',
    ]);
    expect(template.Resources.BackendInstanceProfile?.Properties.Roles).toEqual([
      { Ref: 'BackendInstanceRole' },
    ]);
  });
});

describe('IAM least privilege', () => {
  let statements: Statement[];
  beforeAll(() => {
    statements = roleStatements(template).filter((s) => s.role !== 'BackendInstanceRole');
  });

  it('grants Resource "*" only for the actions listed, with a reason, in docs/deployment.md', () => {
    const documented = documentedWildcardActions();
    const wildcard = statements.filter((s) => s.Resource.includes('*'));
    expect(wildcard.length).toBeGreaterThan(0);
    for (const s of wildcard) {
      for (const action of s.Action) {
        expect(documented.has(action), `${action} on "*" is documented`).toBe(true);
      }
    }
    // Every template resource is scoped elsewhere: no "*" mixed into a scoped statement.
    for (const s of wildcard) expect(s.Resource).toEqual(['*']);
  });

  it('has no Resource "*" anywhere else in the template (bucket, topic or any other policy)', () => {
    const documented = documentedWildcardActions();
    const found: string[] = [];
    let wildcardStatements = 0;
    const walk = (node: unknown, path: string): void => {
      if (Array.isArray(node)) {
        node.forEach((child, i) => {
          walk(child, `${path}[${i}]`);
        });
        return;
      }
      if (node === null || typeof node !== 'object') return;
      const record = node as Record<string, unknown>;
      const resources = [record.Resource].flat();
      if ('Effect' in record && resources.includes('*')) {
        wildcardStatements += 1;
        const actions = [record.Action].flat() as string[];
        const ok =
          record.Effect === 'Allow' && actions.every((a) => documented.has(a)) && /\.Policies\[/.test(path);
        if (!ok) found.push(`${path}: ${JSON.stringify(actions)}`);
      }
      for (const [key, child] of Object.entries(record)) walk(child, `${path}.${key}`);
    };
    walk(template.Resources, 'Resources');
    expect(found).toEqual([]);
    expect(wildcardStatements, 'the walk reached the role policies').toBeGreaterThan(0);
  });

  it('never allows a wildcard action or a Deny-less NotAction', () => {
    for (const s of statements) {
      expect(s.Effect).toBe('Allow');
      for (const action of s.Action) expect(action).toMatch(/^[a-z0-9-]+:[A-Za-z]+$/);
    }
  });

  it('scopes every statement to the intended ARNs of its own group', () => {
    for (const group of sample.groups) {
      const roleId = targetId(functionOf(group)[1].Properties.Role);
      const mine = statements.filter((s) => s.role === roleId);
      expect(mine.length).toBeGreaterThan(0);
      const prefix = `arn:aws:%s:${REGION}:${ACCOUNT}:`;
      const arn = (service: string, rest: string): string => prefix.replace('%s', service) + rest;
      const expected: Record<string, string[]> = {
        'logs:CreateLogStream': [arn('logs', `log-group:/aws/lambda/${group.functionName}:*`)],
        'logs:PutLogEvents': [arn('logs', `log-group:/aws/lambda/${group.functionName}:*`)],
        'ssm:GetParametersByPath': [
          arn('ssm', `parameter${sample.configSsmPath}`),
          arn('ssm', `parameter${sample.configSsmPath}/*`),
        ],
        'secretsmanager:GetSecretValue': [sample.secrets.database, sample.secrets.replication].map((ref) =>
          ref.startsWith('arn:') ? ref : arn('secretsmanager', `secret:${ref}-??????`),
        ),
        's3:GetObject': [`arn:aws:s3:::<DumpsBucket>/${sample.dumps.prefix}/*`],
        's3:PutObject': [`arn:aws:s3:::<DumpsBucket>/${sample.dumps.prefix}/*`],
        's3:AbortMultipartUpload': [`arn:aws:s3:::<DumpsBucket>/${sample.dumps.prefix}/*`],
        's3:ListBucket': ['arn:aws:s3:::<DumpsBucket>'],
        'sns:Publish': ['<NotificationsTopic>'],
        'lambda:InvokeFunction': [arn('lambda', `function:${group.functionName}`)],
      };
      for (const [action, resources] of Object.entries(expected)) {
        const granted = mine.filter((s) => s.Action.includes(action)).flatMap((s) => s.Resource.map(r));
        expect(granted.sort(), action).toEqual([...resources].sort());
      }
      // ssm:SendCommand: the project's document, and instances carrying one of this cluster's group
      // tags only (the operation master switches every group's routers).
      const send = mine.filter((s) => s.Action.includes('ssm:SendCommand'));
      const documentGrant = send.find((s) => s.Resource.map(r).some((x) => x.includes(':document/')));
      expect(documentGrant?.Resource.map(r)).toEqual(
        ['Haproxy', 'Mysqlrouter', 'Proxysql'].map((kind) =>
          arn('ssm', `document/<RouterSwitch${kind}Document>`),
        ),
      );
      const instanceGrant = send.find((s) => s.Resource.map(r).some((x) => x.includes(':instance/')));
      expect(instanceGrant?.Resource.map(r)).toEqual([arn('ec2', 'instance/*')]);
      expect(instanceGrant?.Condition).toEqual({
        StringEquals: { [`ssm:resourceTag/${sample.routers.tagKey}`]: sample.groups.map((g) => g.name) },
      });
      // s3:ListBucket only lists the dumps prefix.
      const list = mine.find((s) => s.Action.includes('s3:ListBucket'));
      expect(list?.Condition).toEqual({
        StringLike: { 's3:prefix': [sample.dumps.prefix, `${sample.dumps.prefix}/*`] },
      });
      // VPC network interfaces: only in the configured subnets and security groups.
      const create = mine.find((s) => s.Action.includes('ec2:CreateNetworkInterface'));
      expect(create?.Resource.map(r).sort()).toEqual(
        [
          arn('ec2', 'network-interface/*'),
          ...(sample.vpc?.subnetIds ?? []).map((id) => arn('ec2', `subnet/${id}`)),
          ...(sample.vpc?.securityGroupIds ?? []).map((id) => arn('ec2', `security-group/${id}`)),
        ].sort(),
      );
    }
  });

  it('covers every granted action with an expectation (no unreviewed permission)', () => {
    const reviewed = new Set([
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'ssm:GetParametersByPath',
      'ssm:GetParameters',
      'ssm:GetParameter',
      'secretsmanager:GetSecretValue',
      's3:GetObject',
      's3:PutObject',
      's3:AbortMultipartUpload',
      's3:ListMultipartUploadParts',
      's3:ListBucket',
      'sns:Publish',
      'ssm:SendCommand',
      'ssm:ListCommandInvocations',
      'ssm:ListCommands',
      'ssm:GetCommandInvocation',
      'lambda:InvokeFunction',
      'ec2:DescribeInstances',
      'ec2:DescribeNetworkInterfaces',
      'ec2:DescribeSubnets',
      'ec2:CreateNetworkInterface',
      'ec2:DeleteNetworkInterface',
      'ec2:AssignPrivateIpAddresses',
      'ec2:UnassignPrivateIpAddresses',
      'kms:Decrypt',
      'kms:GenerateDataKey',
    ]);
    for (const s of statements)
      for (const action of s.Action) expect(reviewed.has(action), action).toBe(true);
    // No CloudWatch API permission: metrics travel as embedded metric format in the function's logs.
    expect(statements.flatMap((s) => s.Action).filter((a) => a.startsWith('cloudwatch:'))).toEqual([]);
  });
});

// An external checker: cfn-lint validates every resource against the CloudFormation schemas and the
// IAM policy grammar. It is a Python tool, present on the project's machines but not an npm dependency.
const cfnLint = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
describe.skipIf(cfnLint.status !== 0)('cfn-lint', () => {
  it('finds no error or warning in the template', () => {
    // W3005: osls adds an explicit DependsOn on the role that the Role GetAtt already implies.
    const run = spawnSync(
      'cfn-lint',
      ['-t', TEMPLATE, '--regions', REGION, '--ignore-checks', 'W3005', '--format', 'parseable'],
      { encoding: 'utf8', timeout: 120_000 },
    );
    expect(run.stdout + run.stderr).toBe('');
    expect(run.status).toBe(0);
  }, 150_000);
});
