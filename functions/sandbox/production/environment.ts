/**
 * A production-shaped run around a sandbox cluster: the bundle exactly as `npm run package` zips it,
 * each backend group's function started in its own Node process by the real event shapes, with the
 * environment the template gives it, its configuration in an SSM parameter (the `deploy/sample.yml`
 * shape: groups found by EC2 tag), its credentials in Secrets Manager, and every AWS call answered by
 * the stand-in (../aws-standin) through the SDK's own endpoint setting. The routers are stand-in EC2
 * instances carrying the group's tag; switching them runs the real SSM document's script the way the
 * agent runs it. S3 is a real local endpoint (s3rver).
 *
 * Each group's router kind is its routers' (HAProxy, or a real MySQL Router 9.7 as deploy/sample.yml's
 * `web`), with the config path the sample gives that kind; the instance sees its router's own folder
 * at that path's folder, and MySQL Router's restart (`systemctl restart mysqlrouter` on a backend) is
 * the router's restart script, set as the instance's RS_APPLY_COMMAND.
 *
 * A tag group has one `routerPort` and one `configPath` for all its instances, and here every instance
 * is this host: the first router of a group is its instance's address; each further router of the
 * group gets an address of its own on the loopback network (127.0.<group>.<router>) at the group's
 * `routerPort`, forwarded to the router's real port, so that every instance is its own router to the
 * watchdog. (The router switch's verification on an instance still reads 127.0.0.1:<routerPort>, the
 * group's first router.)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { CycleReport } from '../../operations/cycle.js';
import type { Invocation } from '../../triggers/events.js';
import { ACCOUNT, AwsStandin, type LambdaInvoke } from '../aws-standin/server.js';
import type { CommandDocument } from '../aws-standin/ssm-agent.js';
import type { Cluster, RouterHandle, RouterKindName } from '../harness/cluster.js';
import { shellWord } from '../harness/mysqlrouter.js';
import { type LocalS3, startLocalS3 } from '../harness/s3rver.js';
import { ARTIFACT, ensurePackaged, extractZip, ROOT } from './bundle.js';

export const TAG_KEY = 'mysql-failover-group';

/** The folder each router kind's config is in on a backend (one the SSM document allows). */
const ROUTER_FOLDER: Record<RouterKindName, string> = {
  haproxy: '/etc/haproxy',
  mysqlrouter: '/etc/mysqlrouter',
};

/** The config path of a router on its instance: its own file name, in its kind's folder. */
function instanceConfigPath(router: RouterHandle): string {
  return `${ROUTER_FOLDER[router.kind]}/${basename(router.configPath)}`;
}

export interface ProductionOptions {
  cluster: Cluster;
  /** The deployed groups' names, in the cluster's group order (default: the cluster's own names). */
  groupNames?: readonly string[];
  /** Added to the configuration document (election timings, timeouts, ...). */
  configExtra?: Record<string, unknown>;
  /** Extra environment of every function (e.g. CONFIG_MAX_AGE_MS). */
  functionEnv?: Record<string, string>;
  /** Log lines of the functions (default: none). */
  log?: (line: string) => void;
}

export interface InvokeOutcome {
  group: string;
  /** What the handler returned; undefined when it threw. */
  result?: {
    ok: boolean;
    report?: Record<string, unknown>;
    error?: Record<string, unknown>;
    requestId?: string;
    repeated?: boolean;
  };
  /** What the handler threw (Lambda reports it as a function error). */
  thrown?: { name: string; code?: string; message: string };
  /** Everything the function wrote to stdout (Powertools logs, EMF metrics). */
  stdout: string[];
  exitCode: number | null;
  /** Killed on purpose (`killAfterMs`): the run ended without an answer, as a crashed container. */
  killed: boolean;
  /** The answer line could not be read (a harness failure, not the function's). */
  unreadable?: string;
}

export interface InvokeOptions {
  /** Extra environment of this invocation (e.g. another CONFIG_SSM_PATH). */
  env?: Record<string, string>;
  /** SIGKILL the function this long after it started (a container lost mid-run). */
  killAfterMs?: number;
}

/** The handler, run once in a fresh Node process from the unzipped bundle, as Lambda's runtime would. */
const RUNNER = `
const { handler } = await import(process.env.BUNDLE_HANDLER);
const deadline = Date.now() + Number(process.env.LAMBDA_TIMEOUT_MS);
const context = {
  functionName: process.env.AWS_LAMBDA_FUNCTION_NAME, functionVersion: '$LATEST', memoryLimitInMB: '1769',
  awsRequestId: process.env.INVOKE_ID, invokedFunctionArn: process.env.FUNCTION_ARN,
  logGroupName: '/aws/lambda/' + process.env.AWS_LAMBDA_FUNCTION_NAME, logStreamName: 'standin',
  callbackWaitsForEmptyEventLoop: true, getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
};
let line;
try {
  const result = await handler(JSON.parse(process.env.INVOKE_EVENT), context);
  line = 'INVOKE_RESULT ' + JSON.stringify(result);
} catch (error) {
  line = 'INVOKE_THROWN ' + JSON.stringify({ name: error?.name, code: error?.code, message: String(error?.message ?? error) });
}
// Exit only once the line is written: a pipe that is not drained would cut it.
process.stdout.write(line + '\\n', () => process.exit(0));
`;

export class ProductionEnvironment {
  readonly standin: AwsStandin;
  readonly s3: LocalS3;
  readonly bundleDir: string;
  readonly clusterName: string;
  readonly groups: string[];
  readonly configSsmPath: string;
  readonly documentName: string;
  readonly topicArn: string;
  readonly secrets = { database: '', replication: '' };
  readonly lambdaTimeoutMs = 900_000;
  private readonly children = new Set<ChildProcess>();
  private readonly forwarders: Server[] = [];
  private readonly forwarded = new Set<Socket>();
  private readonly pending = new Set<Promise<InvokeOutcome>>();
  /** Continuations and other asynchronous invokes the functions sent, with what they returned. */
  readonly asyncOutcomes: InvokeOutcome[] = [];
  private invokeCount = 0;

  private constructor(
    private readonly options: ProductionOptions,
    standin: AwsStandin,
    s3: LocalS3,
    bundleDir: string,
  ) {
    const c = options.cluster;
    this.standin = standin;
    this.s3 = s3;
    this.bundleDir = bundleDir;
    this.clusterName = c.name;
    this.groups = c.groups.map((g, i) => options.groupNames?.[i] ?? g.name);
    this.configSsmPath = `/mysql-failover/${this.clusterName}`;
    this.documentName = `mysql-failover-${this.clusterName}-RouterSwitch`;
    this.topicArn = `arn:aws:sns:${standin.region}:${ACCOUNT}:mysql-failover-${this.clusterName}-notifications`;
    this.secrets.database = `arn:aws:secretsmanager:${standin.region}:${ACCOUNT}:secret:mysql-failover/${this.clusterName}/watchdog-AbCdEf`;
    this.secrets.replication = `mysql-failover/${this.clusterName}/replication`;
  }

  /** Packages the bundle (if stale), starts the stand-in and s3rver, and lays out the deployment. */
  static async start(options: ProductionOptions): Promise<ProductionEnvironment> {
    ensurePackaged();
    const bundleDir = mkdtempSync(join(tmpdir(), 'mf-bundle-'));
    extractZip(ARTIFACT, bundleDir);
    const standin = await new AwsStandin().start();
    const s3 = await startLocalS3({ bucket: 'mysql-failover-dumps' });
    const env = new ProductionEnvironment(options, standin, s3, bundleDir);
    env.deploy();
    await env.forwardRouterAddresses();
    standin.onInvoke = (invoke) => env.deliver(invoke);
    return env;
  }

  functionName(group: string): string {
    return `mysql-failover-${this.clusterName}-${group}`;
  }

  /** The watchdog's configuration document (the `watchdog:` block of deploy/sample.yml, completed). */
  configDocument(): Record<string, unknown> {
    const c = this.options.cluster;
    return {
      clusterName: this.clusterName,
      servers: c.servers.map((s) => ({ name: s.name, address: `${s.host}:${s.port}` })),
      groups: c.groups.map((g, i) => {
        const router = g.routers[0]!;
        return {
          name: this.groups[i],
          routerKind: router.kind,
          ec2Tag: { key: TAG_KEY, value: this.groups[i] },
          routerPort: router.port,
          // The path the document allows; each instance sees its own router folder there (binds below).
          configPath: instanceConfigPath(router),
        };
      }),
      ...this.options.configExtra,
    };
  }

  private deploy(): void {
    const c = this.options.cluster;
    const cred = c.config().credentials;
    this.standin.putParameter(`${this.configSsmPath}/config`, JSON.stringify(this.configDocument()));
    this.standin.putSecret(
      `mysql-failover/${this.clusterName}/watchdog`,
      JSON.stringify({ username: cred.watchdog.user, password: cred.watchdog.password }),
    );
    this.standin.putSecret(
      this.secrets.replication,
      JSON.stringify({ username: cred.replication.user, password: cred.replication.password }),
    );
    // One document per router kind: `<ROUTER_DOCUMENT>-<kind>` (routers/ssm.ts documentNameFor).
    for (const kind of ['haproxy', 'mysqlrouter', 'proxysql']) {
      this.standin.documents.set(
        `${this.documentName}-${kind}`,
        JSON.parse(
          readFileSync(join(ROOT, 'infra', 'ssm', `router-switch-${kind}.json`), 'utf8'),
        ) as CommandDocument,
      );
    }
    c.groups.forEach((g, gi) => {
      g.routers.forEach((r, ri) => {
        const instanceId = `i-0${(gi + 1).toString(16).padStart(8, '0')}${(ri + 1).toString(16).padStart(8, '0')}`;
        const dir = join(r.baseDir, 'ssm-agent');
        mkdirSync(dir, { recursive: true });
        this.standin.instances.push({
          instanceId,
          privateIp: this.routerAddress(gi, ri),
          tags: { [TAG_KEY]: this.groups[gi]!, Name: `${this.clusterName}-${this.groups[gi]}-${ri + 1}` },
          state: 'running',
          dir,
          binds: [{ from: r.baseDir, to: ROUTER_FOLDER[r.kind] }],
          // What the operator puts in /etc/mysql-failover/router-switch.env on a backend (docs/deployment.md):
          // the verification login, where backups go and, for MySQL Router, how it restarts (here its
          // restart script stands for `systemctl restart mysqlrouter`). The agent's environment carries them.
          env: {
            RS_BACKUP_DIR: join(r.baseDir, 'backups'),
            RS_VERIFY_USER: cred.watchdog.user,
            MYSQL_PWD: cred.watchdog.password,
            ...(r.kind === 'mysqlrouter' ? { RS_APPLY_COMMAND: `bash ${shellWord(r.restartScript)}` } : {}),
          },
        });
      });
    });
  }

  /** The address of a group's router `ri` as its instance: the first is the router itself. */
  private routerAddress(gi: number, ri: number): string {
    return ri === 0 ? this.options.cluster.groups[gi]!.routers[0]!.host : `127.0.${gi + 1}.${ri + 1}`;
  }

  /** Each further router of a group: its instance's address at the group's routerPort, forwarded. */
  private async forwardRouterAddresses(): Promise<void> {
    for (const [gi, g] of this.options.cluster.groups.entries()) {
      for (const [ri, r] of g.routers.entries()) {
        if (ri === 0) continue;
        const server = createServer((client) => {
          const upstream = connect(r.port, r.host);
          for (const socket of [client, upstream]) {
            this.forwarded.add(socket);
            socket.on('close', () => this.forwarded.delete(socket));
          }
          client.pipe(upstream).pipe(client);
          client.on('error', () => upstream.destroy());
          upstream.on('error', () => client.destroy());
        });
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(g.routers[0]!.port, this.routerAddress(gi, ri), resolve);
        });
        this.forwarders.push(server);
      }
    }
  }

  /** The environment the template gives a group's function (infra/deployment/index.cjs), pointed here. */
  functionEnv(group: string): Record<string, string> {
    return {
      GROUP: group,
      CLUSTER_NAME: this.clusterName,
      CONFIG_SSM_PATH: this.configSsmPath,
      DB_SECRET_ARN: this.secrets.database,
      REPLICATION_SECRET_ARN: this.secrets.replication,
      DUMPS_URL: `s3://${this.s3.bucket}/mysql-failover/${this.clusterName}`,
      SNS_TOPIC_ARN: this.topicArn,
      // The deployment names its own account (s3rver does not check the owner; the header is sent).
      S3_EXPECTED_BUCKET_OWNER: ACCOUNT,
      ROUTER_DOCUMENT: this.documentName,
      ROUTER_TAG_KEY: TAG_KEY,
      METRICS_NAMESPACE: 'MysqlFailover',
      POWERTOOLS_SERVICE_NAME: 'mysql-failover',
      ...this.options.functionEnv,
    };
  }

  /** Runs one invocation of a group's function with `event`; resolves when the process has ended. */
  invoke(group: string, event: unknown, options: InvokeOptions = {}): Promise<InvokeOutcome> {
    const id = `standin-${++this.invokeCount}`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', RUNNER], {
      // A folder without node_modules: the bundle must carry every dependency itself.
      cwd: this.bundleDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        ...this.standin.sdkEnv(),
        // s3rver checks signatures with its own key pair; the stand-in accepts any.
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
        S3_ENDPOINT: this.s3.endpoint,
        AWS_LAMBDA_FUNCTION_NAME: this.functionName(group),
        FUNCTION_ARN: `arn:aws:lambda:${this.standin.region}:${ACCOUNT}:function:${this.functionName(group)}`,
        LAMBDA_TIMEOUT_MS: String(this.lambdaTimeoutMs),
        INVOKE_ID: id,
        INVOKE_EVENT: JSON.stringify(event),
        BUNDLE_HANDLER: join(this.bundleDir, 'functions', 'watchdog.mjs'),
        ...this.functionEnv(group),
        ...options.env,
      },
    });
    this.children.add(child);
    let killed = false;
    const killer =
      options.killAfterMs === undefined
        ? undefined
        : setTimeout(() => {
            killed = true;
            child.kill('SIGKILL');
          }, options.killAfterMs);
    const lines: string[] = [];
    let buffer = '';
    child.stdout!.on('data', (d: Buffer) => {
      buffer += d.toString('utf8');
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      for (const l of parts) {
        lines.push(l);
        this.options.log?.(`[${group}] ${l}`);
      }
    });
    child.stderr!.on('data', (d: Buffer) => this.options.log?.(`[${group}] ${d.toString('utf8').trimEnd()}`));
    const done = new Promise<InvokeOutcome>((resolve) => {
      child.once('close', (code) => {
        clearTimeout(killer);
        this.children.delete(child);
        if (buffer) lines.push(buffer);
        const outcome: InvokeOutcome = { group, stdout: lines, exitCode: code, killed };
        for (const l of lines) {
          try {
            if (l.startsWith('INVOKE_RESULT '))
              outcome.result = JSON.parse(l.slice(14)) as InvokeOutcome['result'];
            if (l.startsWith('INVOKE_THROWN '))
              outcome.thrown = JSON.parse(l.slice(14)) as InvokeOutcome['thrown'];
          } catch (error) {
            // The harness could not read the answer: say so, never crash the caller's loop.
            outcome.unreadable = `${l.slice(0, 14)}line of ${l.length} characters: ${(error as Error).message}`;
          }
        }
        resolve(outcome);
      });
    });
    this.pending.add(done);
    void done.finally(() => this.pending.delete(done));
    return done;
  }

  /** An asynchronous invoke a function sent (its continuation): run it, as Lambda would. */
  private deliver(invoke: LambdaInvoke): void {
    if (invoke.invocationType !== 'Event') return;
    const group = this.groups.find((g) => this.functionName(g) === invoke.functionName);
    if (!group) return;
    void this.invoke(group, JSON.parse(invoke.payload)).then((o) => this.asyncOutcomes.push(o));
  }

  /** Waits until no invocation (continuations included) is running. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    await this.standin.settled();
  }

  async stop(): Promise<void> {
    for (const child of this.children) child.kill('SIGKILL');
    await Promise.allSettled([...this.pending]);
    for (const server of this.forwarders) server.close();
    for (const socket of this.forwarded) socket.destroy();
    await this.standin.stop();
    await this.s3.stop();
    rmSync(this.bundleDir, { recursive: true, force: true });
  }
}

/** The template's event shapes (infra/deployment/index.cjs, events/). */
export const productionEvents = {
  schedule: (group: string) => ({ source: 'schedule', group }),
  alarm: (alarmName: string) => ({
    version: '0',
    id: 'c4c1c1c9-6542-e61b-6ef0-8c4d36933a92',
    'detail-type': 'CloudWatch Alarm State Change',
    source: 'aws.cloudwatch',
    account: ACCOUNT,
    time: new Date().toISOString(),
    region: 'eu-west-1',
    resources: [`arn:aws:cloudwatch:eu-west-1:${ACCOUNT}:alarm:${alarmName}`],
    detail: {
      alarmName,
      state: { value: 'ALARM', reason: 'Threshold Crossed', timestamp: new Date().toISOString() },
      previousState: { value: 'OK', reason: 'Threshold Crossed', timestamp: new Date().toISOString() },
      configuration: { metrics: [] },
    },
  }),
  snsAlarm: (alarmName: string) => ({
    Records: [
      {
        EventSource: 'aws:sns',
        EventVersion: '1.0',
        EventSubscriptionArn: `arn:aws:sns:eu-west-1:${ACCOUNT}:shop-db-alarms:1`,
        Sns: {
          Type: 'Notification',
          MessageId: '95df01b4-ee98-5cb9-9903-4c221d41eb5e',
          TopicArn: `arn:aws:sns:eu-west-1:${ACCOUNT}:shop-db-alarms`,
          Subject: `ALARM: "${alarmName}" in EU (Ireland)`,
          Message: JSON.stringify({
            AlarmName: alarmName,
            NewStateValue: 'ALARM',
            NewStateReason: 'Threshold Crossed',
            StateChangeTime: new Date().toISOString(),
          }),
          Timestamp: new Date().toISOString(),
        },
      },
    ],
  }),
  console: (action: string, group: string, extra: Record<string, unknown> = {}) => ({
    action,
    group,
    ...extra,
  }),
};

/** The event a trigger sends to a group's function in production mode (the template's shapes). */
export function productionEvent(trigger: Invocation['trigger'], group: string): unknown {
  if (trigger === 'alarm') return productionEvents.alarm('chaos-primary-down');
  if (trigger === 'console') return productionEvents.console('check', group);
  return productionEvents.schedule(group);
}

/**
 * The report a function returned. A failed schedule or alarm run throws (as Lambda sees it): that is
 * a cycle that failed, reported as such; a process that ended with neither is a crash.
 */
export function reportOf(
  o: InvokeOutcome,
  trigger: Invocation['trigger'],
  crashed: () => void,
  harness: (message: string) => void = () => crashed(),
): CycleReport | null {
  if (o.unreadable) {
    harness(`the answer of the function of ${o.group} is unreadable: ${o.unreadable}`);
    return null;
  }
  if (o.result?.report) return o.result.report as unknown as CycleReport;
  const error = o.thrown ?? o.result?.error;
  if (error) {
    return {
      group: o.group,
      trigger,
      error: { message: String((error as { message?: unknown }).message ?? 'failed') },
    } as unknown as CycleReport;
  }
  crashed();
  return null;
}
