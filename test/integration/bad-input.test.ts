/**
 * Bad input, on a real cluster: each case gets a clear error and no destructive step. After every
 * case that could have acted, the cluster is checked unchanged: the same primary, writable, the
 * replica replicating from it, every router on it, no GTID written by anyone but the test.
 *
 * Cases: malformed and unknown events; configs with missing keys, wrong types and hostile strings;
 * wrong database credentials; unreachable hosts and a DNS failure; SSM and Secrets Manager errors and
 * time-outs; a replica not using GTID auto-positioning; object storage denied, then gone in the middle
 * of an upload, during a failover (the old primary is never overwritten before its salvage is stored).
 */
import { Transform } from 'node:stream';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, parseConfig } from '../../functions/config/schema.js';
import { loadConfig as loadConfigRaw } from '../../functions/config/sources.js';
import { ConfigError } from '../../functions/errors.js';
import { type CycleReport, runCycle as runCycleRaw } from '../../functions/operations/cycle.js';
import { openConfiguredStore } from '../../functions/operations/store.js';
import { sandboxConfig, sandboxRouterSwitch } from '../../functions/sandbox/drill.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import type { ObjectStore } from '../../functions/storage/object-store.js';
import type { Invocation } from '../../functions/triggers/events.js';
import { type LocalS3, startLocalS3 } from '../harness/s3rver.js';
import { captureOutput, filesUnder, journalText, leaks } from '../harness/secrets.js';
import { pollUntil } from '../harness/wait.js';

let cluster: Cluster;
let config: Config;
let s3: LocalS3 | undefined;
// biome-ignore lint/suspicious/noExplicitAny: JSON-shaped handler results
type Json = any;
let handler: (event: unknown, context: Context) => Promise<{ ok: boolean; report?: Json; error?: Json }>;

const context = {
  functionName: 'mysql-failover-g1',
  awsRequestId: 'bad-input',
  getRemainingTimeInMillis: () => 300_000,
} as unknown as Context;

/**
 * Everything the suite's runs wrote, kept for the secrets scan at the end (issue 13): every report,
 * handler answer and error, and (captured) every line printed.
 */
const written: Array<{ where: string; text: string }> = [];
const keep = (where: string, value: unknown): void => {
  written.push({
    where,
    text: value instanceof Error ? `${value.message} ${JSON.stringify(value)}` : JSON.stringify(value),
  });
};
async function kept<T>(where: string, run: () => Promise<T>): Promise<T> {
  try {
    const value = await run();
    keep(where, value);
    return value;
  } catch (error) {
    keep(`${where} (thrown)`, error);
    throw error;
  }
}
const runCycle: typeof runCycleRaw = (...args) => kept('cycle report', () => runCycleRaw(...args));
const loadConfig: typeof loadConfigRaw = (...args) =>
  kept('configuration error', () => loadConfigRaw(...args));
let output: ReturnType<typeof captureOutput> | undefined;

const check = (c: Config, extra: Partial<Invocation> = {}): Promise<CycleReport> =>
  runCycle(c, { trigger: 'alarm', action: 'check', group: 'g1', dryRun: false, force: false, ...extra });

/** The GTID positions of every server: any write by the watchdog (a fence, a promote…) would show. */
async function positions(): Promise<string[]> {
  return Promise.all(
    cluster.servers.map(async (s) => {
      const [r] = await s.query('SELECT @@global.gtid_binlog_pos AS p, @@global.read_only AS ro');
      return `${s.name} ${r!.p} ro=${r!.ro}`;
    }),
  );
}

/** The cluster is as it was: db1 primary and writable, db2 replicating from it, routers on db1. */
async function expectUntouched(before: string[]): Promise<void> {
  expect(await positions()).toEqual(before);
  const ok = await runCycle(config, {
    trigger: 'cli',
    action: 'check',
    group: 'g1',
    dryRun: true,
    force: false,
  });
  expect(ok.analysis?.code).toBe('Ok');
  expect(ok.analysis?.primary).toBe(cluster.servers[0]!.address);
}

function expectNothingExecuted(report: CycleReport): void {
  expect(report.plan?.kind === 'operation' || report.plan?.kind === 'follow').toBe(false);
  expect(report.operation).toBeUndefined();
}

beforeAll(async () => {
  cluster = await startCluster({ servers: 2, groups: 1, name: 'badinput' });
  config = sandboxConfig(cluster, 'bad-input test');
  process.env.CONFIG_FILE = cluster.configFile();
  process.env.GROUP = 'g1';
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  // Every log line is written (and captured, not shown): the secrets scan reads them all.
  process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
  output = captureOutput();
  const imported = (await import('../../functions/watchdog.js')) as unknown as { handler: typeof handler };
  handler = (event, ctx) => kept('handler answer', () => imported.handler(event, ctx));
});

afterAll(async () => {
  output?.stop();
  await s3?.stop();
  await cluster?.stop();
});

describe('events', () => {
  it('refuses malformed console events with the field, the value and what is allowed', async () => {
    const before = await positions();
    const cases: Array<[unknown, RegExp]> = [
      [{ action: 'explode', group: 'g1', dryRun: 'yes' }, /action.*check, status, failover/s],
      [{ action: 'check', group: 'g1; rm -rf /' }, /group/],
      [{ action: 'switchover', target: '$(reboot):3306' }, /target.*host:port/s],
      [{ action: 'check', extra: true }, /extra/],
    ];
    for (const [event, message] of cases) {
      const result = await handler(event, context);
      expect(result.ok).toBe(false);
      expect(result.error.code).toBe('EventValidationError');
      expect(result.error.message).toMatch(message);
      expect(result.report).toBeUndefined();
    }
    await expectUntouched(before);
  });

  it('refuses an event of any size, echoing none of it and doing nothing', async () => {
    const before = await positions();
    const huge = await handler({ action: 'check', group: 'g1', note: 'Z'.repeat(1_000_000) }, context);
    expect(huge.error.message).toMatch(/larger than/);
    expect(JSON.stringify(huge).length).toBeLessThan(2_000);
    await expectUntouched(before);
  });

  it('refuses unknown event shapes and non-objects with the list of accepted events', async () => {
    for (const event of [null, 'check', 42, [], { Records: [{ eventSource: 'aws:sqs', body: '{}' }] }]) {
      const result = await handler(event, context);
      expect(result.ok).toBe(false);
      expect(result.error.code).toBe('EventValidationError');
      expect(result.error.message).toMatch(/schedule|console|alarm/i);
    }
  });
});

describe('configuration', () => {
  const good = () => JSON.parse(JSON.stringify(cluster.config())) as Record<string, Json>;
  const load = (doc: unknown) => loadConfig({ env: { MF_CONFIG: JSON.stringify(doc) } });

  it('names each missing key', async () => {
    const doc = good();
    delete doc.servers;
    delete doc.groups[0].routerKind;
    const error = await load(doc).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/servers: .*missing/);
    expect((error as Error).message).toMatch(/groups\.0\.routerKind: .*missing/);
  });

  it('names each wrong type with the value found', async () => {
    const doc = good();
    doc.timeouts = { connectMs: 'soon' };
    doc.antiFlapSeconds = -5;
    doc.groups[0].routers = 'router-1';
    const error = await load(doc).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('timeouts.connectMs');
    expect(message).toContain('"soon"');
    expect(message).toContain('antiFlapSeconds');
    expect(message).toContain('groups.0.routers');
  });

  it('refuses shell metacharacters in host names, router paths, sections and the object store', async () => {
    const hostile: Array<[(doc: Record<string, Json>) => void, string]> = [
      [(d) => (d.servers[0].host = '127.0.0.1;reboot'), 'servers.0'],
      [(d) => (d.servers[1] = '$(curl evil):3306'), 'servers.1'],
      [(d) => (d.groups[0].routers[0].configPath = '/etc/haproxy/haproxy.cfg`id`'), 'configPath'],
      [(d) => (d.groups[0].routers[0].configPath = 'relative/../haproxy.cfg'), 'configPath'],
      [(d) => (d.groups[0].section = 'x" && reboot && "'), 'groups.0.section'],
      [(d) => (d.groups[0].name = '../g1'), 'groups.0.name'],
      [(d) => (d.objectStore = '/tmp/x; rm -rf /'), 'objectStore'],
      [(d) => (d.clusterName = 'c|nc -l 4444'), 'clusterName'],
    ];
    for (const [spoil, key] of hostile) {
      const doc = good();
      spoil(doc);
      const error = await load(doc).catch((e: unknown) => e);
      expect(error, key).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toContain(key);
    }
  });

  it('answers a bad configuration with a ConfigError to the console, fails a scheduled run, and reads it again next time', async () => {
    const saved = process.env.CONFIG_FILE;
    process.env.CONFIG_FILE = '/nonexistent/watchdog.json';
    try {
      const result = await handler({ action: 'check', group: 'g1' }, context);
      expect(result.ok).toBe(false);
      expect(result.error.code).toBe('ConfigError');
      expect(result.error.message).toContain('/nonexistent/watchdog.json');
      // No caller reads a scheduled run's answer: it fails the invocation (Errors alarm, on-failure destination).
      const thrown = await handler({ source: 'schedule', group: 'g1' }, context).catch((e: unknown) => e);
      expect(thrown).toBeInstanceOf(Error);
      expect((thrown as { code?: string }).code).toBe('CycleFailedError');
      expect((thrown as Error).message).toContain('/nonexistent/watchdog.json');
    } finally {
      process.env.CONFIG_FILE = saved;
    }
    const again = await handler({ source: 'schedule', group: 'g1' }, context);
    expect(again.ok).toBe(true);
    expect(again.report.analysis.code).toBe('Ok');
  });
});

describe('AWS control plane errors (SSM, Secrets Manager)', () => {
  it('reports SSM errors and time-outs while reading the configuration, naming the path', async () => {
    const ssm = mockClient(SSMClient);
    try {
      for (const [name, message] of [
        ['AccessDeniedException', 'User is not authorized to perform ssm:GetParametersByPath'],
        ['TimeoutError', 'Connection timed out after 5000 ms'],
        ['ThrottlingException', 'Rate exceeded'],
      ] as const) {
        ssm.reset();
        ssm.on(GetParametersByPathCommand).rejects(Object.assign(new Error(message), { name }));
        const error = await loadConfig({
          env: { CONFIG_SSM_PATH: '/mysql-failover/prod' },
          ssm: () => new SSMClient({ region: 'us-east-1' }),
        }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as Error).message).toContain('/mysql-failover/prod');
        expect((error as Error).message).toContain(message);
      }
      ssm.reset();
      ssm.on(GetParametersByPathCommand).resolves({ Parameters: [] });
      const empty = await loadConfig({
        env: { CONFIG_SSM_PATH: '/mysql-failover/none' },
        ssm: () => new SSMClient({ region: 'us-east-1' }),
      }).catch((e: unknown) => e);
      expect((empty as Error).message).toContain('no SSM parameters found under /mysql-failover/none');
    } finally {
      ssm.restore();
    }
  });

  it('reports a Secrets Manager error or a malformed secret without printing the secret', async () => {
    const sm = mockClient(SecretsManagerClient);
    try {
      sm.on(GetSecretValueCommand).rejects(
        Object.assign(new Error('secret not found'), { name: 'ResourceNotFoundException' }),
      );
      const doc = JSON.stringify(cluster.config());
      const error = await loadConfig({
        env: { MF_CONFIG: doc, DB_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:1:secret:db' },
        secrets: () => new SecretsManagerClient({ region: 'us-east-1' }),
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toContain('arn:aws:secretsmanager:eu-west-1:1:secret:db');
      sm.reset();
      sm.on(GetSecretValueCommand).resolves({ SecretString: '{"username":"w","pass":"hunter2-secret"}' });
      const malformed = await loadConfig({
        env: { MF_CONFIG: doc, DB_SECRET_ARN: 'db' },
        secrets: () => new SecretsManagerClient({ region: 'us-east-1' }),
      }).catch((e: unknown) => e);
      expect(malformed).toBeInstanceOf(ConfigError);
      expect((malformed as Error).message).not.toContain('hunter2-secret');
    } finally {
      sm.restore();
    }
  });
});

describe('database reachability', () => {
  it('with wrong credentials: says access was denied on every server and router, and does nothing', async () => {
    const before = await positions();
    const wrong = parseConfig(
      {
        ...cluster.config(),
        credentials: { ...config.credentials, watchdog: { user: 'watchdog', password: 'wrong' } },
      },
      'wrong credentials',
    );
    const report = await check(wrong);
    const snap = report.snapshot as Json;
    for (const s of snap.servers) {
      expect(s.reachable).toBe(false);
      expect(s.error.errno).toBe(1045);
      expect(s.error.message).toMatch(/Access denied/);
    }
    expect(report.analysis?.code).toBe('AllDown');
    expectNothingExecuted(report);
    expect(JSON.stringify(report)).not.toContain('"wrong"');
    await expectUntouched(before);
  });

  it('with unreachable hosts and a name that does not resolve: AllDown with the reason per server, nothing done', async () => {
    const before = await positions();
    const doc = cluster.config();
    const gone = parseConfig(
      {
        ...doc,
        servers: [
          { name: 'db1', host: 'db1.mysql-failover.invalid', port: 3306 },
          { name: 'db2', host: '127.0.0.1', port: 9 }, // discard port: nothing listens
        ],
        groups: [
          { ...doc.groups[0]!, routers: [{ ...doc.groups[0]!.routers[0]!, host: '127.0.0.1', port: 9 }] },
        ],
      },
      'unreachable',
    );
    const report = await check(gone);
    const snap = report.snapshot as Json;
    expect(snap.servers[0].error.code).toMatch(/ENOTFOUND|EAI_AGAIN/);
    expect(snap.servers[1].error.code).toBe('ECONNREFUSED');
    expect(snap.routers[0].reachable).toBe(false);
    expect(report.analysis?.code).toBe('AllDown');
    expectNothingExecuted(report);
    await expectUntouched(before);
  });

  it('with a replica that does not use GTID auto-positioning: NotGtidEnabled, alert only', async () => {
    const [db1, db2] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
    await db2.query('STOP SLAVE');
    await db2.query('CHANGE MASTER TO MASTER_USE_GTID=no');
    await db2.query('START SLAVE');
    try {
      const before = await positions();
      const report = await check(config);
      expect(report.analysis?.code).toBe('NotGtidEnabled');
      expect(report.analysis?.description).toMatch(/GTID/);
      expect(report.plan?.kind).toBe('alert-only');
      expectNothingExecuted(report);
      expect(await positions()).toEqual(before);
    } finally {
      await db2.query('STOP SLAVE');
      await db2.query('CHANGE MASTER TO MASTER_USE_GTID=slave_pos');
      await db2.query('START SLAVE');
      await cluster.waitForReplication(db2);
    }
    expect((await check(config, { dryRun: true })).analysis?.primary).toBe(db1.address);
  });
});

describe('object storage failing during a failover', () => {
  it('never reseeds the old primary while its salvage cannot be stored (denied, then gone mid-upload), and finishes once storage is back', async () => {
    const [db1, db2] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
    s3 = await startLocalS3({ bucket: 'salvage' });
    const routers = sandboxRouterSwitch(config);
    await db2.query('STOP SLAVE IO_THREAD');
    const unreplicated = await cluster.writeSomething(db1, 'only on the old primary');
    await db1.kill9();
    await cluster.waitForRouterTarget(cluster.routers[0]!, db2, 60_000);
    await db1.start();

    const alarm: Invocation = { trigger: 'alarm', action: 'check', group: 'g1', dryRun: false, force: false };
    const steps = (r: CycleReport) => r.operation?.steps ?? [];
    /** Runs the watchdog as the alarm would, until a run has tried to salvage (a lease may be pending). */
    const runUntilSalvageTried = (c: Config, store: () => ObjectStore): Promise<CycleReport> =>
      pollUntil(
        () => runCycle(c, alarm, { routers, store }),
        (r) => steps(r).some((s) => s.kind === 'Salvage'),
        { intervalMs: 2_000 },
      );
    const oldPrimaryKeepsItsData = async (): Promise<void> => {
      const rows = await db1.query('SELECT id FROM harness.writes WHERE id = ?', [unreplicated.id]);
      expect(rows).toHaveLength(1);
      const [ro] = await db1.query('SELECT @@global.read_only AS ro');
      expect(Number(ro!.ro)).toBe(1); // fenced: it takes no writes while it waits for its rebuild
    };

    // 1. Denied: the bucket does not exist (what an S3 endpoint answers when the role may not write).
    const denied = { ...config, objectStore: 's3://not-our-bucket/ops' };
    const first = await runUntilSalvageTried(denied, () => openConfiguredStore(denied, s3!.storeOptions));
    expect(first.operation?.role).toBe('master');
    const salvage1 = steps(first).find((s) => s.kind === 'Salvage');
    expect(salvage1?.outcome).toBe('failed');
    expect(salvage1?.detail).toMatch(/not-our-bucket|upload|NoSuchBucket/i);
    expect(steps(first).filter((s) => s.kind === 'Reseed' && s.outcome !== 'failed')).toEqual([]);
    // The failover itself happened (fence, promote, routers); only the rebuild waits.
    for (const kind of ['Fence', 'Promote', 'SwitchRouters'])
      expect(steps(first).find((s) => s.kind === kind)?.outcome, kind).toBe('done');
    await oldPrimaryKeepsItsData();
    expect(await cluster.routers[0]!.routesTo()).toBe(db2.address);

    // 2. Gone mid-upload: the endpoint stops while the salvage's first object is being sent.
    const good = { ...config, objectStore: 's3://salvage/ops' };
    const real = openConfiguredStore(good, s3.storeOptions);
    let stopped = false;
    const vanishing: ObjectStore = {
      ...real,
      url: real.url,
      put: (key, body, options) => {
        const cut = new Transform({
          transform(chunk, _enc, done) {
            if (stopped) return done(null, chunk);
            stopped = true;
            void s3!.stop().then(() => done(null, chunk));
          },
        });
        return real.put(key, body.pipe(cut), options);
      },
      get: (key, options) => real.get(key, options),
      head: (key) => real.head(key),
      list: (prefix) => real.list(prefix),
      delete: (key) => real.delete(key),
    };
    const second = await runUntilSalvageTried(good, () => vanishing);
    expect(stopped).toBe(true);
    const salvage2 = steps(second).find((s) => s.kind === 'Salvage');
    expect(salvage2?.outcome).toBe('failed');
    expect(steps(second).filter((s) => s.kind === 'Reseed' && s.outcome !== 'failed')).toEqual([]);
    await oldPrimaryKeepsItsData();

    // 3. Storage back (the cluster's folder store): salvage stored, then the rebuild.
    const third = await pollUntil(
      () => runCycle(config, alarm, { routers }),
      (r) => steps(r).some((s) => s.kind === 'Reseed' && s.outcome === 'done'),
      { intervalMs: 2_000 },
    );
    expect(steps(third).filter((s) => s.outcome === 'failed')).toEqual([]);
    const record = third.operation!.salvage[0];
    expect(record?.transactions.flatMap((t) => t.rows ?? []).flatMap((r) => r.values)).toContain(
      `@1=${unreplicated.id}`,
    );
    await cluster.waitForReplication(db1);
    const final = await runCycle(config, { ...alarm, dryRun: true });
    expect(final.analysis?.code).toBe('Ok');
    expect(final.analysis?.primary).toBe(db2.address);
  });
});

describe('secrets (issue 13)', () => {
  it('never shows a password in anything the suite wrote: answers, reports, errors, logs, objects, journal', async () => {
    const { watchdog, replication } = cluster.credentials;
    const passwords = [watchdog.password, replication.password, 'hunter2-secret'];
    const printed = output?.printed.join('') ?? '';
    const objects = filesUnder(cluster.objectStoreDir);
    const found = [
      ...written.flatMap((w) => leaks(passwords, w.where, w.text)),
      ...leaks(passwords, 'logs and metrics', printed),
      ...objects.flatMap((o) => leaks(passwords, o.path, o.text)),
      ...(
        await Promise.all(
          cluster.servers.map(async (s) => leaks(passwords, `journal on ${s.name}`, await journalText(s))),
        )
      ).flat(),
    ];
    expect(found).toEqual([]);
    // It read what the suite produced: reports and answers, log lines, the salvage and audit records.
    expect(written.length).toBeGreaterThan(20);
    expect(printed.length).toBeGreaterThan(10_000);
    expect(objects.some((o) => o.path.includes('salvage'))).toBe(true);
  });
});
