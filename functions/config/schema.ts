/**
 * The one configuration schema. Every source (file, environment, SSM Parameter Store) produces a plain
 * object that is validated here exactly once; errors name the offending key and the value found.
 */
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { PATTERNS as ROUTER_DOCUMENT_PATTERNS, SAFE_PATH } from '../routers/parameters.js';
import { maskSecrets } from './mask.js';

/** host:port with a DNS name, IPv4 or [IPv6] host; no shell metacharacters can pass. */
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const PATH = /^\/[A-Za-z0-9_./-]{0,4095}$/;

const host = z.string().regex(HOST, 'must be a host name or IP address (letters, digits, dots, dashes)');
const port = z.coerce.number().int().min(1).max(65535);

/** Accepts `"host:port"` or `{ host, port }`. */
const endpoint = z.preprocess((value) => {
  if (typeof value !== 'string') return value;
  const match = /^(.*):(\d+)$/.exec(value.trim());
  return match ? { host: match[1], port: match[2] } : { host: value.trim(), port: 3306 };
}, z.object({ host, port }));

function addressProblem(error: z.ZodError): string {
  const inner = error.issues.map((i) => `${i.path.map(String).join('.')} ${i.message}`).join(', ');
  return `invalid address, expected host:port (${inner})`;
}

const addressFields = { address: z.string().optional(), host: host.optional(), port: port.optional() };
const asAddressObject = (value: unknown): unknown => (typeof value === 'string' ? { address: value } : value);

/** Resolves `address` or `host`/`port` of an entry; reports a problem and returns null when it cannot. */
function resolveEndpoint(
  entry: { address?: string | undefined; host?: string | undefined; port?: number | undefined },
  ctx: z.RefinementCtx,
  defaultPort: number | undefined,
): { id: string; host: string; port: number } | null {
  let hostValue = entry.host;
  let portValue = entry.port ?? defaultPort;
  if (entry.address !== undefined) {
    const parsed = endpoint.safeParse(entry.address);
    if (!parsed.success) {
      ctx.addIssue({ code: 'custom', message: addressProblem(parsed.error) });
      return null;
    }
    hostValue = parsed.data.host;
    portValue = parsed.data.port;
  }
  if (hostValue === undefined || portValue === undefined) {
    ctx.addIssue({ code: 'custom', message: 'needs "host" and "port" (or "address": "host:port")' });
    return null;
  }
  return { id: `${hostValue}:${portValue}`, host: hostValue, port: portValue };
}

const absolutePath = z.string().regex(PATH, 'must be an absolute path of letters, digits, _ . / -');
/**
 * A router file: what the router script accepts (components starting with a letter, digit or _, no
 * `..`, `//` or dot file), checked here so a bad path fails at config load, not at switch time after
 * fence and promote. Routers reached through SSM get the document's fixed folders on top (superRefine).
 */
const routerPath = absolutePath.regex(
  new RegExp(`^${SAFE_PATH}$`),
  'must be a plain absolute path: no "..", "//" or dot file, each part starting with a letter, digit or _',
);
const SSM_ROUTER_PATH = new RegExp(ROUTER_DOCUMENT_PATTERNS.ConfigPath);

/** A database server: `"host:port"` or an object. */
const server = z.preprocess(
  asAddressObject,
  z
    .object({
      ...addressFields,
      /** Optional name (db1, ...) used in reports. */
      name: z.string().regex(NAME).optional(),
      /** The address replicas use for this server (`CHANGE MASTER TO MASTER_HOST=…`), if different. */
      replicationHost: host.optional(),
      replicationPort: port.optional(),
      /**
       * Promotion rule: `prefer` ranks first among replicas holding every acknowledged transaction,
       * `never` is never promoted nor a router fallback (a backup-only replica). Default neutral.
       */
      promotion: z.enum(['prefer', 'neutral', 'never']).default('neutral'),
    })
    .transform((s, ctx) => {
      const at = resolveEndpoint(s, ctx, 3306);
      if (!at) return z.NEVER;
      return {
        ...at,
        name: s.name ?? at.id,
        replicationHost: s.replicationHost ?? at.host,
        replicationPort: s.replicationPort ?? at.port,
        promotion: s.promotion,
      };
    }),
);

/** A router endpoint the watchdog queries through: `"host:port"` or an object. */
const router = z.preprocess(
  asAddressObject,
  z
    .object({
      ...addressFields,
      /** EC2 instance id of the backend that runs this router (SSM Run Command target). */
      instanceId: z
        .string()
        .regex(/^(i|mi)-[0-9a-f]{8,17}$/)
        .optional(),
      configPath: routerPath.optional(),
      adminSocket: absolutePath.optional(),
    })
    .transform((r, ctx) => {
      const at = resolveEndpoint(r, ctx, undefined);
      if (!at) return z.NEVER;
      return { ...at, instanceId: r.instanceId, configPath: r.configPath, adminSocket: r.adminSocket };
    }),
);

const group = z.object({
  name: z.string().regex(NAME, 'must be letters, digits, _ . - (at most 63)'),
  routerKind: z.enum(['mysqlrouter', 'haproxy', 'proxysql']),
  /** Router endpoints the watchdog queries through; empty when found by EC2 tag. */
  routers: z.array(router).default([]),
  /** Find the backends by EC2 tag instead of listing them (SSM Run Command targets). */
  ec2Tag: z
    .object({
      key: z.string().regex(/^[A-Za-z0-9_.:/=+@-]{1,128}$/),
      value: z.string().regex(/^[A-Za-z0-9_.:/=+@-]{1,256}$/),
    })
    .optional(),
  /** The router's listening port on each backend (used with ec2Tag discovery). */
  routerPort: port.optional(),
  /** Router config file on each backend (mysqlrouter.conf, haproxy.cfg). */
  configPath: routerPath.optional(),
  /** The routing section (`[routing:NAME]`) or HAProxy backend/listen name. */
  section: z.string().regex(NAME).default('mysql_failover'),
});

/**
 * How a server is rebuilt: `logical` (a streaming dump through the function), `physical` (on the
 * database hosts: mariadb-backup through the object store by the PhysicalReseed SSM document, or MySQL's
 * CLONE), or `auto`: physical when the source holds more than `physicalAboveGb` and both hosts are
 * reachable through SSM (MySQL: CLONE when the servers have it, the clone plugin active), logical otherwise.
 */
const reseed = z
  .object({
    method: z.enum(['auto', 'logical', 'physical']).default('auto'),
    physicalAboveGb: z.coerce.number().min(0).max(1_000_000).default(5),
    /** The database hosts as SSM targets, by server name or host:port. */
    hosts: z
      .record(
        z.string(),
        z.object({
          instanceId: z.string().regex(/^(i|mi)-[0-9a-f]{8,17}$/),
          /** The server's systemd unit on that host. */
          serviceName: z
            .string()
            .regex(/^(mariadb|mysql|mysqld)(@[A-Za-z0-9_.-]{1,64})?([.]service)?$/, 'must be a database unit')
            .default('mariadb'),
        }),
      )
      .default({}),
    /** mariadb-backup threads on the source. */
    parallel: z.coerce.number().int().min(1).max(16).default(2),
    /** Seconds a command may run on a host (SSM's limit is 48 hours). */
    commandTimeoutSeconds: z.coerce.number().int().min(60).max(172_800).default(86_400),
  })
  .default({});

const credentials = z.object({
  user: z.string().min(1).max(80),
  password: z.string(),
});

/**
 * An operator hook (core/hooks.ts): exactly one of a local `command` (CLI, sandbox), a `lambda`
 * function (name or ARN), an `ssmDocument` run on `instanceIds`, or an `snsTopicArn`. `timeoutSeconds`
 * bounds the wait; `onNoAnswer` (pre-failover only) decides when it does not answer in time.
 */
const hook = z
  .object({
    command: z.string().min(1).max(4_000).optional(),
    lambda: z
      .string()
      .regex(
        /^(arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:)?[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]{1,128})?$/,
        'must be a Lambda function name or ARN',
      )
      .optional(),
    ssmDocument: z
      .string()
      .regex(
        /^(arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:document\/)?[A-Za-z0-9_.-]{3,128}$/,
        'must be an SSM document name or ARN',
      )
      .optional(),
    instanceIds: z
      .array(z.string().regex(/^(i|mi)-[0-9a-f]{8,17}$/, 'must be an EC2 instance id'))
      .min(1)
      .max(50)
      .optional(),
    snsTopicArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/, 'must be an SNS topic ARN')
      .optional(),
    timeoutSeconds: z.coerce.number().int().min(1).max(600).default(30),
    onNoAnswer: z.enum(['proceed', 'veto']).optional(),
  })
  .strict()
  .superRefine((h, ctx) => {
    const kinds = (['command', 'lambda', 'ssmDocument', 'snsTopicArn'] as const).filter(
      (k) => h[k] !== undefined,
    );
    if (kinds.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `needs exactly one of command, lambda, ssmDocument, snsTopicArn (got ${kinds.join(', ') || 'none'})`,
      });
    }
    if ((h.ssmDocument !== undefined) !== (h.instanceIds !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['instanceIds'],
        message: 'goes with ssmDocument (the instances it runs on)',
      });
    }
  });

const hooks = z
  .object({
    /** Before a failover or a promote-dead: may veto. */
    preFailover: hook.optional(),
    /** After the routers moved to the new primary of a failover or a promote-dead. */
    postFailover: hook.optional(),
    /** After the routers moved to the new primary of a switchover. */
    postSwitchover: hook.optional(),
  })
  .strict()
  .superRefine((h, ctx) => {
    if (h.preFailover?.snsTopicArn !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['preFailover', 'snsTopicArn'],
        message:
          'a topic cannot answer: a pre-failover hook is a command, a Lambda function or an SSM document',
      });
    }
    for (const key of ['postFailover', 'postSwitchover'] as const) {
      if (h[key]?.onNoAnswer !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [key, 'onNoAnswer'],
          message: 'only a pre-failover hook can veto',
        });
      }
    }
  })
  .default({});

export const configSchema = z
  .object({
    clusterName: z.string().regex(NAME, 'must be letters, digits, _ . - (at most 63)'),
    servers: z.array(server).min(2, 'needs at least two servers (a primary and a replica)'),
    /** The configured primary (`host:port`); default: the first server. */
    primary: z.string().optional(),
    groups: z.array(group).min(1, 'needs at least one backend group'),
    credentials: z
      .object({
        watchdog: credentials.optional(),
        replication: credentials.optional(),
      })
      .default({}),
    /** Where dumps, salvage and audit records go: `s3://bucket/prefix` or an absolute local folder. */
    objectStore: z
      .string()
      .regex(
        /^(s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[A-Za-z0-9_./=-]*)?|\/[A-Za-z0-9_./-]*)$/,
        'must be s3://bucket/prefix or an absolute folder path',
      )
      .optional(),
    /** The AWS account that must own the S3 bucket (ExpectedBucketOwner on every request). */
    objectStoreBucketOwner: z
      .string()
      .regex(/^[0-9]{12}$/, 'must be a 12-digit AWS account id')
      .optional(),
    /** Server-side encryption for S3 objects. */
    objectStoreEncryption: z
      .object({
        mode: z.enum(['AES256', 'aws:kms']).default('AES256'),
        kmsKeyId: z.string().optional(),
      })
      .default({ mode: 'AES256' }),
    timeouts: z
      .object({
        connectMs: z.coerce.number().int().min(50).max(60_000).default(2_000),
        queryMs: z.coerce.number().int().min(50).max(600_000).default(5_000),
        /** Time kept back before the Lambda deadline to stop cleanly. */
        deadlineMarginMs: z.coerce.number().int().min(0).max(600_000).default(20_000),
      })
      .default({ connectMs: 2_000, queryMs: 5_000, deadlineMarginMs: 20_000 }),
    election: z
      .object({
        leaseMs: z.coerce.number().int().min(500).max(3_600_000).default(60_000),
        followerTimeoutMs: z.coerce.number().int().min(500).max(3_600_000).default(120_000),
        pollMs: z.coerce.number().int().min(20).max(60_000).default(250),
      })
      .default({ leaseMs: 60_000, followerTimeoutMs: 120_000, pollMs: 250 }),
    /** After an operation, only alerts for this long unless an operator forces. */
    antiFlapSeconds: z.coerce
      .number()
      .int()
      .min(0)
      .max(7 * 24 * 3600)
      .default(3600),
    reseed,
    /** A replica further behind than this is no promotion candidate (unset: no limit). */
    maxLagSecondsForPromotion: z.coerce.number().int().min(0).max(86_400).optional(),
    /** How long a promotion waits for the candidate to apply what it already received. */
    catchUpTimeoutSeconds: z.coerce.number().int().min(1).max(3_600).default(60),
    /** Operator hooks around a change of primary (core/hooks.ts). */
    hooks,
    /** What to do on SplitBrain: resolve by the documented rule, or only alert. */
    splitBrainPolicy: z.enum(['resolve', 'alert-only']).default('alert-only'),
    /**
     * The cluster runs semi-synchronous replication: after an operation that moves the primary, the
     * new primary waits for acknowledgements again and every replica it gets acknowledges (SemiSync
     * steps). Off: semi-sync settings are left as they are.
     */
    semiSync: z.boolean().default(false),
    /** TLS to the database servers. */
    tls: z
      .object({
        /** What MySQL's --ssl-mode says (cluster/tls.ts); preferred: TLS whenever the server offers it. */
        mode: z.enum(['off', 'preferred', 'required', 'verify-ca', 'verify-identity']).default('preferred'),
        /** The CA as a file... */
        caPath: z.string().optional(),
        /** ...or inline, the PEM text (an SSM SecureString or a Secrets Manager secret). */
        ca: z.string().optional(),
      })
      .default({ mode: 'preferred' }),
  })
  .superRefine((config, ctx) => {
    const ids = new Set<string>();
    config.servers.forEach((s, i) => {
      if (ids.has(s.id)) ctx.addIssue({ code: 'custom', path: ['servers', i], message: `duplicate ${s.id}` });
      ids.add(s.id);
    });
    if (config.primary !== undefined && !ids.has(config.primary)) {
      ctx.addIssue({
        code: 'custom',
        path: ['primary'],
        message: `"${config.primary}" is not one of the servers (${[...ids].join(', ')})`,
      });
    }
    const names = new Set<string>();
    config.groups.forEach((g, i) => {
      if (names.has(g.name))
        ctx.addIssue({ code: 'custom', path: ['groups', i, 'name'], message: `duplicate ${g.name}` });
      names.add(g.name);
      // Routers reached through SSM Run Command: the document accepts files in fixed folders only.
      const viaSsm = g.ec2Tag !== undefined || g.routers.some((r) => r.instanceId !== undefined);
      if (viaSsm && g.configPath !== undefined && !SSM_ROUTER_PATH.test(g.configPath)) {
        ctx.addIssue({
          code: 'custom',
          path: ['groups', i, 'configPath'],
          message: `must be in one of the folders the router document allows (${SSM_ROUTER_PATH.source})`,
        });
      }
      g.routers.forEach((r, j) => {
        if (viaSsm && r.configPath !== undefined && !SSM_ROUTER_PATH.test(r.configPath)) {
          ctx.addIssue({
            code: 'custom',
            path: ['groups', i, 'routers', j, 'configPath'],
            message: `must be in one of the folders the router document allows (${SSM_ROUTER_PATH.source})`,
          });
        }
      });
      if (g.routers.length === 0 && g.ec2Tag === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['groups', i, 'routers'],
          message: 'needs "routers" or "ec2Tag" to find its routers',
        });
      }
      if (g.ec2Tag !== undefined && g.routerPort === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['groups', i, 'routerPort'],
          message: 'is required with "ec2Tag": the port the router listens on, on each instance found',
        });
      }
      if (g.ec2Tag !== undefined && g.routers.length > 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['groups', i, 'routers'],
          message: 'must be left out with "ec2Tag": the routers are the running instances carrying the tag',
        });
      }
    });
    if (
      (config.tls.mode === 'verify-ca' || config.tls.mode === 'verify-identity') &&
      !config.tls.ca &&
      !config.tls.caPath
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['tls', 'mode'],
        message: `${config.tls.mode} needs the CA (tls.ca or tls.caPath): the public CA list is never trusted`,
      });
    }
    for (const key of Object.keys(config.reseed.hosts)) {
      if (!config.servers.some((s) => s.id === key || s.name === key)) {
        ctx.addIssue({
          code: 'custom',
          path: ['reseed', 'hosts', key],
          message: `names no configured server (${config.servers.map((s) => s.name).join(', ')})`,
        });
      }
    }
    if (config.objectStoreEncryption.mode === 'aws:kms' && !config.objectStoreEncryption.kmsKeyId) {
      ctx.addIssue({
        code: 'custom',
        path: ['objectStoreEncryption', 'kmsKeyId'],
        message: 'is required when mode is aws:kms',
      });
    }
  });

export type Config = z.output<typeof configSchema>;
export type HookConfig = z.output<typeof hook>;
export type ServerConfig = Config['servers'][number];
export type GroupConfig = Config['groups'][number];
export type RouterConfig = GroupConfig['routers'][number];
export type Credentials = z.output<typeof credentials>;
export type ReseedConfig = Config['reseed'];

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = input;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

/** The value shown in an error: secrets masked first (mask.ts), then shortened. */
function describe(value: unknown, path: readonly PropertyKey[]): string {
  if (value === undefined) return 'missing';
  const masked = maskSecrets(value, path);
  const text = JSON.stringify(masked) ?? String(masked);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Validates a raw configuration object once. `source` says where it came from (file, env, SSM). */
export function parseConfig(raw: unknown, source: string): Config {
  const result = configSchema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const key = issue.path.map(String).join('.') || '(root)';
    const shown = describe(valueAt(raw, issue.path), issue.path);
    return `${key}: ${issue.message} (got ${shown})`;
  });
  throw new ConfigError(`invalid configuration from ${source}: ${problems.join('; ')}`, {
    details: { source, problems },
  });
}

/** The configured primary's id: the `primary` key, or the first server. */
export function configuredPrimary(config: Config): string {
  return config.primary ?? config.servers[0]!.id;
}

export function findGroup(config: Config, name: string): GroupConfig {
  const found = config.groups.find((g) => g.name === name);
  if (!found) {
    throw new ConfigError(
      `unknown group "${name}" (configured groups: ${config.groups.map((g) => g.name).join(', ')})`,
      { details: { group: name } },
    );
  }
  return found;
}
