'use strict';
/**
 * osls variable resolver: serverless.yml reads `${file(./infra/deployment/index.cjs):functions}` etc.
 * Everything is generated from the stage's deployment config (deploy/<stage>.yml) by pure functions
 * (`build`), so the template tests can also call them directly.
 */
const path = require('node:path');
const { loadDeployment, normalize } = require('./config.cjs');
const { roleFor, backendInstanceProfile } = require('./iam.cjs');
const { dumpsBucket, dumpsUrl } = require('./storage.cjs');
const { alarmsFor, clusterAlarms, dashboard } = require('./monitoring.cjs');
const detect = require('./detect.cjs');

const SERVICE_DIR = path.resolve(__dirname, '..', '..');
const HANDLER = 'functions/watchdog.handler';
/** EventBridge's rate expression: `rate(1 minute)`, `rate(10 minutes)`. */
function scheduleRate(minutes) {
  return `rate(${minutes} ${minutes === 1 ? 'minute' : 'minutes'})`;
}
/** Lambda's maximum: long reseeds continue in a new invocation before this runs out. */
const TIMEOUT_SECONDS = 900;
/** SSM String parameters: 4 KB standard, 8 KB advanced. */
const STANDARD_PARAMETER_BYTES = 4096;
const ADVANCED_PARAMETER_BYTES = 8192;

function environmentFor(d, group) {
  const env = {
    GROUP: group.name,
    // The metrics' cluster dimension even when the configuration cannot be read (FailedCycle).
    CLUSTER_NAME: d.cluster,
    CONFIG_SSM_PATH: d.configSsmPath,
    DB_SECRET_ARN: d.secrets.database,
    REPLICATION_SECRET_ARN: d.secrets.replication,
    DUMPS_URL: dumpsUrl(d),
    // The dumps bucket is the stack's own: S3 refuses a request when another account owns the bucket.
    S3_EXPECTED_BUCKET_OWNER: { Ref: 'AWS::AccountId' },
    SNS_TOPIC_ARN: { Ref: 'NotificationsTopic' },
    // Base name: the document of a group's router kind is `<ROUTER_DOCUMENT>-<kind>`.
    ROUTER_DOCUMENT: d.routerDocumentName,
    ROUTER_TAG_KEY: d.routers.tagKey,
    METRICS_NAMESPACE: d.function.metricsNamespace,
    POWERTOOLS_SERVICE_NAME: d.powertoolsServiceName,
  };
  // The source map ships with the bundle either way; mapping stack traces at run time costs cold-start
  // CPU and memory (docs/deployment.md), so it is the operator's choice.
  if (d.function.sourceMapStackTraces) env.NODE_OPTIONS = '--enable-source-maps';
  return env;
}

function eventsFor(d, group) {
  const events = [
    {
      schedule: {
        rate: [scheduleRate(d.function.scheduleRateMinutes)],
        enabled: d.function.scheduleEnabled,
        description: `mysql-failover check of group ${group.name} every ${d.function.scheduleRateMinutes} minute(s)`,
        input: { source: 'schedule', group: group.name },
      },
    },
  ];
  if (group.alarms.length > 0) {
    // The handler receives the EventBridge alarm event unchanged; the group is the function's own (GROUP).
    events.push({
      eventBridge: {
        pattern: {
          source: ['aws.cloudwatch'],
          'detail-type': ['CloudWatch Alarm State Change'],
          detail: { alarmName: group.alarms, state: { value: ['ALARM'] } },
        },
      },
    });
  }
  if (group.alarmTopicArn) events.push({ sns: { arn: group.alarmTopicArn } });
  // The backend watchers' "Router Primary Down" events start a check at once (infra/deployment/detect.cjs).
  events.push(detect.watcherEvent(d, group));
  return events;
}

function functionsOf(d) {
  const functions = {};
  for (const group of d.groups) {
    const fn = {
      name: group.functionName,
      description: `mysql-failover watchdog: cluster ${d.cluster}, backend group ${group.name}`,
      handler: HANDLER,
      role: `${group.id}WatchdogRole`,
      memorySize: d.function.memorySize,
      timeout: TIMEOUT_SECONDS,
      environment: environmentFor(d, group),
      events: eventsFor(d, group),
      // Asynchronous invokes (schedule, alarms, continuation): no blind retry of a failed run (the
      // next schedule re-checks from a fresh observation); events older than an hour are stale.
      maximumRetryAttempts: 0,
      maximumEventAge: 3600,
      // A dropped or crashed asynchronous run is reported on the notifications topic.
      destinations: { onFailure: { type: 'sns', arn: { Ref: 'NotificationsTopic' } } },
      tags: { 'mysql-failover:cluster': d.cluster, 'mysql-failover:group': group.name },
    };
    if (d.function.reservedConcurrency !== null) fn.reservedConcurrency = d.function.reservedConcurrency;
    if (d.vpc) fn.vpc = { subnetIds: d.vpc.subnetIds, securityGroupIds: d.vpc.securityGroupIds };
    functions[group.key] = fn;
  }
  return functions;
}

function notifications(d) {
  const resources = {
    NotificationsTopic: {
      Type: 'AWS::SNS::Topic',
      Properties: {
        TopicName: `${d.service}-${d.stage}-notifications`,
        DisplayName: `mysql-failover ${d.cluster}`,
        // Only a customer managed key: CloudWatch alarms cannot publish to a topic encrypted with the
        // AWS managed aws/sns key (its key policy does not let CloudWatch use it).
        ...(d.notifications.kmsKeyArn ? { KmsMasterKeyId: d.notifications.kmsKeyArn } : {}),
      },
    },
    NotificationsTopicPolicy: {
      Type: 'AWS::SNS::TopicPolicy',
      Properties: {
        Topics: [{ Ref: 'NotificationsTopic' }],
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'CloudWatchAlarmsOfThisAccount',
              Effect: 'Allow',
              Principal: { Service: 'cloudwatch.amazonaws.com' },
              Action: 'sns:Publish',
              Resource: { Ref: 'NotificationsTopic' },
              Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
            },
            {
              Sid: 'DenyInsecureTransport',
              Effect: 'Deny',
              Principal: '*',
              Action: 'sns:Publish',
              Resource: { Ref: 'NotificationsTopic' },
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            },
          ],
        },
      },
    },
  };
  if (d.notifications.email) {
    resources.NotificationsEmailSubscription = {
      Type: 'AWS::SNS::Subscription',
      Properties: {
        TopicArn: { Ref: 'NotificationsTopic' },
        Protocol: 'email',
        Endpoint: d.notifications.email,
      },
    };
  }
  return resources;
}

/** The optional watchdog configuration document, completed with what the deployment already knows. */
function watchdogParameter(d) {
  if (d.watchdog === undefined) return {};
  const document = {
    ...d.watchdog,
    clusterName: d.cluster,
    objectStoreEncryption:
      d.dumps.encryption === 'SSE-KMS'
        ? { mode: 'aws:kms', kmsKeyId: d.dumps.kmsKeyArn }
        : { mode: 'AES256' },
  };
  const value = JSON.stringify(document);
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > ADVANCED_PARAMETER_BYTES) {
    throw new Error(
      `watchdog: the configuration document is ${bytes} bytes; an SSM parameter holds at most ` +
        `${ADVANCED_PARAMETER_BYTES}. Split it into per-key parameters under ${d.configSsmPath}.`,
    );
  }
  return {
    WatchdogConfigParameter: {
      Type: 'AWS::SSM::Parameter',
      Properties: {
        Name: `${d.configSsmPath}/config`,
        Type: 'String',
        Tier: bytes > STANDARD_PARAMETER_BYTES ? 'Advanced' : 'Standard',
        Description: `mysql-failover watchdog configuration of cluster ${d.cluster}`,
        Value: value,
      },
    },
  };
}

function outputs(d) {
  const out = {
    DumpsUrl: { Description: 'Where dumps, salvage and audit records are written', Value: dumpsUrl(d) },
    NotificationsTopicArn: { Description: 'Reports and alarms', Value: { Ref: 'NotificationsTopic' } },
    RouterSwitchDocumentName: {
      Description: 'SSM Command documents that rewrite router destinations: this name, then -<router kind>',
      Value: d.routerDocumentName,
    },
    ...(d.dashboard ? { DashboardName: { Value: { Ref: 'Dashboard' } } } : {}),
    BackendTag: {
      Description: 'Tag every backend with this key and its group name as the value',
      Value: `${d.routers.tagKey}=<${d.groups.map((g) => g.name).join('|')}>`,
    },
  };
  if (d.backendInstanceProfile) {
    out.BackendInstanceProfileName = {
      Description: 'Example instance profile for the backends (SSM agent)',
      Value: { Ref: 'BackendInstanceProfile' },
    };
  }
  return out;
}

/** Every generated CloudFormation resource (the SSM document comes from infra/resources/). */
function resourcesOf(d) {
  const resources = {
    ...dumpsBucket(d),
    ...notifications(d),
    ...watchdogParameter(d),
    ...(d.dashboard ? dashboard(d) : {}),
    ...clusterAlarms(d),
    ...detect.resources(d),
    ...(d.backendInstanceProfile ? backendInstanceProfile(d) : {}),
  };
  for (const group of d.groups) {
    resources[`${group.id}WatchdogRole`] = roleFor(d, group);
    Object.assign(resources, alarmsFor(d, group));
  }
  return { Resources: resources, Outputs: { ...outputs(d), ...detect.outputs(d) } };
}

/** Pure: a validated deployment -> the pieces serverless.yml includes. */
function build(d) {
  return {
    region: d.region,
    functions: functionsOf(d),
    resources: resourcesOf(d),
    logRetentionInDays: d.function.logRetentionInDays,
    stackTags: { project: 'mysql-failover', 'mysql-failover:cluster': d.cluster },
  };
}

const cache = new Map();
async function current({ resolveVariable, resolveConfigurationProperty }) {
  const stage = await resolveVariable('sls:stage');
  const service = await resolveConfigurationProperty(['service']);
  const key = `${service}/${stage}/${process.env.DEPLOY_CONFIG || ''}`;
  if (!cache.has(key)) cache.set(key, build(loadDeployment({ serviceDir: SERVICE_DIR, service, stage })));
  return cache.get(key);
}

module.exports = {
  region: async (ctx) => (await current(ctx)).region,
  functions: async (ctx) => (await current(ctx)).functions,
  resources: async (ctx) => (await current(ctx)).resources,
  logRetentionInDays: async (ctx) => (await current(ctx)).logRetentionInDays,
  stackTags: async (ctx) => (await current(ctx)).stackTags,
  build,
  normalize,
  loadDeployment,
};
