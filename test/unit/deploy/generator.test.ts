/**
 * The pure generator behind serverless.yml (infra/deployment/*.cjs): validation of the deployment config
 * and the variants the sample does not show (SSE-KMS, no VPC, no tag discovery, no reservation).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { render } from './cfn.js';
import { ROOT } from './packaged.js';

const require = createRequire(import.meta.url);
const RouterDocumentPlugin = require('../../../infra/deployment/router-document-plugin.cjs') as {
  new (serverless: unknown): { inject(): void };
  loadDocument(
    serviceDir: string,
    kind: string,
  ): { schemaVersion: string; parameters: Record<string, unknown> };
  KINDS: string[];
  logicalId(kind: string): string;
};
const { normalize, build } = require('../../../infra/deployment/index.cjs') as {
  normalize: (raw: unknown, opts: { service: string; stage: string }) => unknown;
  build: (deployment: unknown) => {
    functions: Record<string, Record<string, unknown>>;
    resources: { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
  };
};

type Raw = Record<string, unknown>;
const sampleRaw = (): Raw => parseYaml(readFileSync(join(ROOT, 'deploy', 'sample.yml'), 'utf8')) as Raw;
const opts = { service: 'mysql-failover', stage: 'test' };
const generate = (raw: Raw) => build(normalize(raw, opts));

function statements(resources: ReturnType<typeof generate>['resources'], roleId: string) {
  const role = resources.Resources[roleId];
  const policies = role?.Properties.Policies as { PolicyDocument: { Statement: Raw[] } }[];
  return policies.flatMap((p) => p.PolicyDocument.Statement);
}
const actionsOf = (list: Raw[]): string[] => list.flatMap((s) => s.Action as string[]);

describe('deployment config validation', () => {
  it('accepts the sample', () => {
    expect(() => normalize(sampleRaw(), opts)).not.toThrow();
  });

  it('names the key when a value is wrong', () => {
    const raw = sampleRaw();
    (raw.vpc as Raw).subnetIds = ['subnet-zz'];
    expect(() => normalize(raw, opts)).toThrow(/vpc\.subnetIds\.0: must be a subnet id/);
  });

  it('refuses SSE-KMS without a key', () => {
    const raw = sampleRaw();
    raw.dumps = { ...(raw.dumps as Raw), encryption: 'SSE-KMS' };
    expect(() => normalize(raw, opts)).toThrow(/dumps\.kmsKeyArn: is required with SSE-KMS/);
  });

  it('refuses two groups that would share a function', () => {
    const raw = sampleRaw();
    raw.groups = [{ name: 'web.a' }, { name: 'web-a' }];
    delete raw.watchdog;
    expect(() => normalize(raw, opts)).toThrow(/duplicate function key "web-a"/);
  });

  it('refuses a watchdog group tagged differently from what the IAM condition allows', () => {
    const raw = sampleRaw();
    const watchdog = raw.watchdog as { groups: Raw[] };
    watchdog.groups[0]!.ec2Tag = { key: 'Role', value: 'web' };
    expect(() => normalize(raw, opts)).toThrow(
      /watchdog\.groups\.0\.ec2Tag: must be \{ key: mysql-failover-group/,
    );
  });

  it('refuses tag discovery in the watchdog config when DescribeInstances is not granted', () => {
    const raw = sampleRaw();
    raw.routers = { ...(raw.routers as Raw), discoverByTag: false };
    expect(() => normalize(raw, opts)).toThrow(/watchdog\.groups\.0\.ec2Tag: finding backends by tag needs/);
  });

  it('refuses unknown keys (a typo must not silently drop a setting)', () => {
    const raw = sampleRaw();
    (raw.dumps as Raw).expireAfterDay = 3;
    expect(() => normalize(raw, opts)).toThrow(/expireAfterDay/);
  });
});

describe('generated resources', () => {
  it('encrypts the bucket with the configured KMS key and grants that key only through S3', () => {
    const raw = sampleRaw();
    const key = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    raw.dumps = { ...(raw.dumps as Raw), encryption: 'SSE-KMS', kmsKeyArn: key };
    const { resources } = generate(raw);
    expect(resources.Resources.DumpsBucket?.Properties.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [
        {
          ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: key },
          BucketKeyEnabled: true,
        },
      ],
    });
    const kms = statements(resources, 'WebWatchdogRole').filter((s) =>
      (s.Action as string[])[0]?.startsWith('kms:'),
    );
    expect(kms).toHaveLength(1);
    expect(kms[0]).toMatchObject({ Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: [key] });
    expect(
      render((kms[0]!.Condition as Raw & { StringEquals: Raw }).StringEquals['kms:ViaService'], 'eu-west-1'),
    ).toBe('s3.eu-west-1.amazonaws.com');
    // The generated watchdog config tells the watchdog to request the same key.
    const parameter = resources.Resources.WatchdogConfigParameter?.Properties.Value as string;
    expect(JSON.parse(parameter).objectStoreEncryption).toEqual({ mode: 'aws:kms', kmsKeyId: key });
  });

  it('encrypts the topic only with a customer managed key, usable by the roles through SNS only', () => {
    const plain = generate(sampleRaw()).resources.Resources.NotificationsTopic?.Properties;
    expect(plain?.KmsMasterKeyId).toBeUndefined();
    const raw = sampleRaw();
    const key = 'arn:aws:kms:eu-west-1:123456789012:key/abcd1234-12ab-34cd-56ef-1234567890ab';
    raw.notifications = { ...(raw.notifications as Raw), kmsKeyArn: key };
    const { resources } = generate(raw);
    expect(resources.Resources.NotificationsTopic?.Properties.KmsMasterKeyId).toBe(key);
    const grant = statements(resources, 'ApiWatchdogRole').find((s) => s.Sid === 'NotificationsKmsKey');
    expect(grant).toMatchObject({ Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: [key] });
  });

  it('grants no KMS action with SSE-S3 and no customer managed key for secrets', () => {
    const { resources } = generate(sampleRaw());
    expect(actionsOf(statements(resources, 'WebWatchdogRole')).filter((a) => a.startsWith('kms:'))).toEqual(
      [],
    );
  });

  it('grants no network-interface action outside a VPC and no DescribeInstances without tag discovery', () => {
    const raw = sampleRaw();
    delete raw.vpc;
    delete raw.watchdog;
    raw.routers = { ...(raw.routers as Raw), discoverByTag: false };
    const { functions, resources } = generate(raw);
    const actions = actionsOf(statements(resources, 'ApiWatchdogRole'));
    expect(actions.filter((a) => a.startsWith('ec2:'))).toEqual([]);
    expect(functions.api?.vpc).toBeUndefined();
  });

  it('turns on source-mapped stack traces only when asked', () => {
    const env = (fn: Record<string, unknown> | undefined) => fn?.environment as Record<string, unknown>;
    expect(env(generate(sampleRaw()).functions.web).NODE_OPTIONS).toBeUndefined();
    const raw = sampleRaw();
    raw.function = { ...(raw.function as Raw), sourceMapStackTraces: true };
    expect(env(generate(raw).functions.web).NODE_OPTIONS).toBe('--enable-source-maps');
  });

  it('leaves concurrency unreserved when the config says null', () => {
    const raw = sampleRaw();
    raw.function = { ...(raw.function as Raw), reservedConcurrency: null };
    const { functions } = generate(raw);
    expect(functions.web?.reservedConcurrency).toBeUndefined();
  });

  it('fills the stored watchdog configuration with the cluster name and omits it when absent', () => {
    const { resources } = generate(sampleRaw());
    const parameter = resources.Resources.WatchdogConfigParameter?.Properties;
    expect(parameter?.Name).toBe('/mysql-failover/shop/config');
    expect(JSON.parse(parameter?.Value as string)).toMatchObject({ clusterName: 'shop' });
    const raw = sampleRaw();
    delete raw.watchdog;
    expect(generate(raw).resources.Resources.WatchdogConfigParameter).toBeUndefined();
  });

  it('allows a secret given by name with the suffix Secrets Manager appends', () => {
    const { resources } = generate(sampleRaw());
    const secrets = statements(resources, 'WebWatchdogRole').find((s) => s.Sid === 'ReadDatabaseSecrets');
    expect(((secrets?.Resource ?? []) as unknown[]).map((x) => render(x, 'eu-west-1'))).toContain(
      'arn:aws:secretsmanager:eu-west-1:111122223333:secret:mysql-failover/shop/replication-??????',
    );
  });
});

describe('router document plugin', () => {
  const serverless = (resources: Record<string, unknown>) => ({
    serviceDir: ROOT,
    service: { provider: { compiledCloudFormationTemplate: { Resources: resources } } },
  });

  it("puts each infra/ssm/router-switch-<kind>.json, unresolved, into its document's Content", () => {
    const documents = Object.fromEntries(
      RouterDocumentPlugin.KINDS.map((kind) => [
        RouterDocumentPlugin.logicalId(kind),
        { Type: 'AWS::SSM::Document', Properties: { Content: {} } },
      ]),
    );
    new RouterDocumentPlugin(serverless(documents)).inject();
    for (const kind of RouterDocumentPlugin.KINDS) {
      const content = documents[RouterDocumentPlugin.logicalId(kind)]!.Properties.Content as {
        schemaVersion: string;
        mainSteps: unknown[];
        parameters: { RouterKind: { allowedValues: string[] } };
      };
      expect(content).toEqual(RouterDocumentPlugin.loadDocument(ROOT, kind));
      expect(content.schemaVersion).toBe('2.2');
      expect(content.parameters.RouterKind.allowedValues).toEqual([kind]);
      // The shell script keeps its ${VAR}s: osls variable resolution never saw it.
      expect(JSON.stringify(content.mainSteps)).toContain('${');
    }
  });

  it('fails the packaging when the template has no router document', () => {
    expect(() => new RouterDocumentPlugin(serverless({})).inject()).toThrow(
      /no AWS::SSM::Document RouterSwitchHaproxyDocument/,
    );
  });
});
