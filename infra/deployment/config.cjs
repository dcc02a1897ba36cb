'use strict';
/**
 * The deployment configuration (deploy/<stage>.yml): read and validated once, then normalised into the
 * values every generator needs (names, ARNs, logical ids). Plain CommonJS because osls loads variable
 * resolvers with require(); the same module is imported by the template tests.
 */
const { readFileSync } = require('node:fs');
const path = require('node:path');
const { z } = require('zod');
const YAML = require('yaml');

/** Group names follow the watchdog's own rule (functions/config/schema.ts). */
const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const REGION = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/;
const ARN = /^arn:aws[a-z-]*:/;
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/[A-Za-z0-9/_-]+$/;
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
/** SSM parameter paths: /a/b, letters, digits and _.- per level; no trailing slash after normalising. */
const SSM_PATH = /^(\/[A-Za-z0-9_.-]+)+\/?$/;
/** The dumps prefix is also used in IAM resource ARNs and lifecycle rules: keep it to a safe alphabet. */
const S3_PREFIX = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const TAG_KEY = /^[A-Za-z0-9_.:/=+@-]{1,128}$/;

const secretRef = z
  .string()
  .refine((v) => SECRET_ARN.test(v) || (SECRET_NAME.test(v) && !v.startsWith('arn:')), {
    message: 'must be a Secrets Manager secret ARN or name',
  });

const schema = z
  .object({
    cluster: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'must be letters, digits, _ . - (at most 63)'),
    region: z.string().regex(REGION, 'must be an AWS region such as eu-west-1'),
    configSsmPath: z.string().regex(SSM_PATH, 'must be an SSM parameter path such as /mysql-failover/shop'),
    secrets: z
      .object({
        database: secretRef,
        replication: secretRef,
        kmsKeyArn: z.string().regex(KMS_KEY_ARN, 'must be a KMS key ARN').optional(),
      })
      .strict(),
    vpc: z
      .object({
        subnetIds: z.array(z.string().regex(/^subnet-[0-9a-f]{8,17}$/, 'must be a subnet id')).min(1),
        securityGroupIds: z
          .array(z.string().regex(/^sg-[0-9a-f]{8,17}$/, 'must be a security group id'))
          .min(1),
      })
      .strict()
      .optional(),
    routers: z
      .object({
        tagKey: z.string().regex(TAG_KEY, 'must be an EC2 tag key'),
        discoverByTag: z.boolean().default(true),
      })
      .strict(),
    dumps: z
      .object({
        bucketName: z.string().regex(BUCKET_NAME, 'must be an S3 bucket name').optional(),
        prefix: z
          .string()
          .regex(S3_PREFIX, 'must be a key prefix such as mysql-failover/shop (no leading /)'),
        encryption: z.enum(['SSE-S3', 'SSE-KMS']).default('SSE-S3'),
        kmsKeyArn: z.string().regex(KMS_KEY_ARN, 'must be a KMS key ARN').optional(),
        expireAfterDays: z.number().int().min(0).max(36500).default(30),
        // Salvage and audit records rely on it (infra/deployment/storage.cjs): it cannot be turned off.
        versioning: z
          .boolean()
          .default(true)
          .refine(
            (v) => v,
            'must stay true: versioning keeps every salvage and audit record the function overwrites',
          ),
      })
      .strict(),
    notifications: z
      .object({
        email: z.string().email('must be an e-mail address').optional(),
        /** Customer managed key for the topic (the AWS managed aws/sns key cannot take alarm actions). */
        kmsKeyArn: z.string().regex(KMS_KEY_ARN, 'must be a KMS key ARN').optional(),
      })
      .strict()
      .default({}),
    function: z
      .object({
        memorySize: z.number().int().min(128).max(10240).default(1769),
        reservedConcurrency: z.number().int().min(1).nullable().default(1),
        logRetentionInDays: z.number().int().min(1).default(90),
        metricsNamespace: z
          .string()
          .regex(/^[A-Za-z0-9._/#:-]{1,255}$/)
          .default('MysqlFailover'),
        scheduleEnabled: z.boolean().default(true),
        /** Minutes between scheduled checks (EventBridge rate); the alarms' periods follow it. */
        scheduleRateMinutes: z.number().int().min(1).max(1440).default(10),
        /** NODE_OPTIONS=--enable-source-maps: readable stack traces, at a measured cold-start cost. */
        sourceMapStackTraces: z.boolean().default(false),
      })
      .strict()
      .default({}),
    backendInstanceProfile: z.boolean().default(true),
    /**
     * The CloudWatch dashboard: free as one of the account's first three dashboards, USD 3.00 a month
     * beyond them (docs/deployment.md, What detection costs); the alarms do not need it.
     */
    dashboard: z.boolean().default(true),
    groups: z
      .array(
        z
          .object({
            name: z.string().regex(GROUP_NAME, 'must be letters, digits, _ . - (at most 63)'),
            alarms: z.array(z.string().min(1).max(255)).default([]),
            alarmTopicArn: z.string().regex(ARN, 'must be an SNS topic ARN').optional(),
          })
          .strict(),
      )
      .min(1, 'needs at least one backend group'),
    watchdog: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.dumps.encryption === 'SSE-KMS' && !c.dumps.kmsKeyArn) {
      ctx.addIssue({ code: 'custom', path: ['dumps', 'kmsKeyArn'], message: 'is required with SSE-KMS' });
    }
    if (c.dumps.encryption === 'SSE-S3' && c.dumps.kmsKeyArn) {
      ctx.addIssue({ code: 'custom', path: ['dumps', 'kmsKeyArn'], message: 'is only used with SSE-KMS' });
    }
  });

function pascal(name) {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0].toUpperCase() + part.slice(1))
    .join('');
}

function explain(error) {
  return error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('; ');
}

/**
 * Validates a raw deployment document and derives the names used everywhere else.
 * Throws an Error whose message names each offending key.
 */
function normalize(raw, { service, stage, source = 'deployment config' }) {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new Error(`${source}: ${explain(parsed.error)}`);
  const c = parsed.data;
  const problems = [];

  const configSsmPath = c.configSsmPath.replace(/\/$/, '');
  const groups = c.groups.map((g, index) => {
    // osls function keys allow letters, digits, - and _; group names may also hold dots.
    const key = g.name.replace(/\./g, '-');
    const id = pascal(g.name);
    const functionName = `${service}-${stage}-${key}`;
    if (functionName.length > 64) {
      problems.push(`groups.${index}.name: function name ${functionName} is longer than 64 characters`);
    }
    return { ...g, key, id, functionName };
  });
  for (const [field, label] of [
    ['name', 'name'],
    ['key', 'function key'],
    ['id', 'resource id'],
  ]) {
    const seen = new Set();
    groups.forEach((g, index) => {
      if (seen.has(g[field])) problems.push(`groups.${index}.name: duplicate ${label} "${g[field]}"`);
      seen.add(g[field]);
    });
  }

  if (c.watchdog !== undefined) {
    const docGroups = Array.isArray(c.watchdog.groups) ? c.watchdog.groups : [];
    const names = new Set(groups.map((g) => g.name));
    docGroups.forEach((dg, index) => {
      const name = dg && typeof dg === 'object' ? dg.name : undefined;
      if (!names.has(name)) {
        problems.push(`watchdog.groups.${index}.name: "${name}" is not one of the deployed groups`);
      }
      const tag = dg && typeof dg === 'object' ? dg.ec2Tag : undefined;
      // Run Command is only allowed on instances tagged <tagKey>=<group>: any other tag would be refused.
      if (tag && !c.routers.discoverByTag) {
        problems.push(
          `watchdog.groups.${index}.ec2Tag: finding backends by tag needs routers.discoverByTag: true ` +
            '(ec2:DescribeInstances)',
        );
      }
      if (tag && (tag.key !== c.routers.tagKey || tag.value !== name)) {
        problems.push(
          `watchdog.groups.${index}.ec2Tag: must be { key: ${c.routers.tagKey}, value: ${name} } ` +
            '(the IAM policy only allows Run Command on instances with that tag)',
        );
      }
    });
  }
  if (problems.length > 0) throw new Error(`${source}: ${problems.join('; ')}`);

  return {
    service,
    stage,
    region: c.region,
    cluster: c.cluster,
    configSsmPath,
    secrets: c.secrets,
    vpc: c.vpc,
    routers: c.routers,
    dumps: c.dumps,
    notifications: c.notifications,
    function: c.function,
    backendInstanceProfile: c.backendInstanceProfile,
    dashboard: c.dashboard,
    groups,
    watchdog: c.watchdog,
    /** Powertools adds a `service` dimension to every metric: the alarms must name the same value. */
    powertoolsServiceName: service,
    routerDocumentName: `${service}-${stage}-router-switch`,
  };
}

/** Reads deploy/<stage>.yml (or the file named by DEPLOY_CONFIG) and normalises it. */
function loadDeployment({ serviceDir, service, stage, file = process.env.DEPLOY_CONFIG }) {
  const configPath = path.resolve(serviceDir, file || path.join('deploy', `${stage}.yml`));
  let text;
  try {
    text = readFileSync(configPath, 'utf8');
  } catch (error) {
    throw new Error(
      `cannot read the deployment config ${configPath} (${error.code || error.message}); ` +
        `copy deploy/sample.yml to deploy/${stage}.yml or set DEPLOY_CONFIG`,
    );
  }
  let raw;
  try {
    raw = YAML.parse(text);
  } catch (error) {
    throw new Error(`cannot parse ${configPath}: ${error.message}`);
  }
  return normalize(raw, { service, stage, source: path.relative(serviceDir, configPath) });
}

module.exports = { normalize, loadDeployment, pascal };
