/**
 * Security, end to end on a real cluster, through the Lambda handler as deployed:
 *  - the database passwords come from Secrets Manager (mocked: no local server) and never appear in
 *    any output of a full failover — the handler's results, every log line and metric it printed,
 *    the SNS summary, the CLI's output, every object written to object storage (salvage, dumps,
 *    audit records; gzipped ones decompressed) and the election's journal tables;
 *  - object storage is asked to encrypt at rest: every upload request that reached the S3 endpoint
 *    (s3rver behind a recording proxy) carried x-amz-server-side-encryption, as configured;
 *  - the operations run with exactly the documented grants: the harness creates the watchdog account
 *    from functions/cluster/grants.ts and nothing else, and no step of the failover was refused.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MARIADB_WATCHDOG_PRIVILEGES } from '../../functions/cluster/grants.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import { type LocalS3, startLocalS3 } from '../harness/s3rver.js';
import { captureOutput, filesUnder, journalText, leaks as leaksOf } from '../harness/secrets.js';

const run = promisify(execFile);

let cluster: Cluster;
let s3: LocalS3;
let proxy: Server;
let proxyUrl: string;
const uploads: Array<{ method: string; url: string; headers: IncomingHttpHeaders }> = [];
/** Every request that reached the S3 endpoint. */
const requests: Array<{ method: string; url: string; headers: IncomingHttpHeaders }> = [];
const secrets = mockClient(SecretsManagerClient);
const sns = mockClient(SNSClient);
const lambda = mockClient(LambdaClient);
let passwords: string[];
// biome-ignore lint/suspicious/noExplicitAny: JSON-shaped handler results
type Json = any;
let handler: (event: unknown, context: Context) => Promise<{ ok: boolean; report?: Json; error?: Json }>;

const context = {
  functionName: 'mysql-failover-g1',
  awsRequestId: 'security',
  getRemainingTimeInMillis: () => 600_000,
} as unknown as Context;

/** A forwarding proxy in front of s3rver that records every request that writes an object. */
function startRecordingProxy(target: string): Promise<Server> {
  const to = new URL(target);
  const server = createServer((req, res) => {
    const isUploadStart =
      (req.method === 'PUT' && !/[?&]partNumber=/.test(req.url ?? '')) ||
      (req.method === 'POST' && /[?&]uploads(=|&|$)/.test(req.url ?? ''));
    if (isUploadStart) uploads.push({ method: req.method!, url: req.url!, headers: req.headers });
    requests.push({ method: req.method!, url: req.url!, headers: req.headers });
    const out = request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function leaks(where: string, text: string): string[] {
  return leaksOf(passwords, where, text);
}

beforeAll(async () => {
  cluster = await startCluster({ servers: 2, groups: 2, name: 'security' });
  s3 = await startLocalS3({ bucket: 'ops-bucket' });
  proxy = await startRecordingProxy(s3.endpoint);
  const address = proxy.address() as { port: number };
  proxyUrl = `http://127.0.0.1:${address.port}`;
  const { watchdog, replication } = cluster.credentials;
  passwords = [watchdog.password, replication.password];

  // The configuration file holds no secret: credentials come from Secrets Manager.
  const { credentials: _dropped, ...doc } = cluster.config();
  const configPath = join(cluster.dir, 'no-secrets.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      ...doc,
      objectStore: 's3://ops-bucket/watchdog',
      objectStoreEncryption: { mode: 'aws:kms', kmsKeyId: 'alias/mysql-failover-dumps' },
      objectStoreBucketOwner: '123456789012',
      election: { leaseMs: 10_000, followerTimeoutMs: 60_000, pollMs: 100 },
      timeouts: { connectMs: 5_000, queryMs: 10_000, deadlineMarginMs: 20_000 },
    }),
  );
  secrets.on(GetSecretValueCommand, { SecretId: 'db-secret' }).resolves({
    SecretString: JSON.stringify({ username: watchdog.user, password: watchdog.password }),
  });
  secrets.on(GetSecretValueCommand, { SecretId: 'repl-secret' }).resolves({
    SecretString: JSON.stringify({ username: replication.user, password: replication.password }),
  });
  sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
  Object.assign(process.env, {
    CONFIG_FILE: configPath,
    DB_SECRET_ARN: 'db-secret',
    REPLICATION_SECRET_ARN: 'repl-secret',
    GROUP: 'g1',
    SNS_TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:mysql-failover',
    S3_ENDPOINT: proxyUrl,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    POWERTOOLS_LOG_LEVEL: 'DEBUG',
    POWERTOOLS_METRICS_NAMESPACE: 'MysqlFailoverTest',
  });
  ({ handler } = (await import('../../functions/watchdog.js')) as unknown as { handler: typeof handler });
});

afterAll(async () => {
  secrets.restore();
  sns.restore();
  lambda.restore();
  await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
  await s3?.stop();
  await cluster?.stop();
});

describe('security', () => {
  it('refuses, in the function of group g1, an event naming group g2: nothing runs', async () => {
    for (const event of [
      { action: 'failover', group: 'g2', force: true },
      { source: 'schedule', group: 'g2' },
    ]) {
      const result = await handler(event, context);
      expect(result).toMatchObject({ ok: false, error: { code: 'EventValidationError' } });
      expect(result.error.message).toMatch(/serves group g1; the event names group g2/);
      expect(result.report).toBeUndefined();
    }
  });

  it('never shows a password in results, logs, notifications, object storage or the journal of a full failover', async () => {
    const [db1, db2] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
    // A failover with everything: unreplicated transactions to salvage, a reseed, replication restarted.
    await db2.query('STOP SLAVE IO_THREAD');
    await cluster.writeSomething(db1, 'unreplicated');
    await db1.kill9();
    await Promise.all(cluster.routers.map((r) => cluster.waitForRouterTarget(r, db2, 60_000)));
    await db1.start();

    const output = captureOutput();
    const printed = output.printed;
    const results: Json[] = [];
    try {
      // Both groups invoked by hand at the same moment (a function with a group of its own refuses
      // another group's event: here without one, as the CLI runs); then g1's schedule until the rebuild is done.
      delete process.env.GROUP;
      try {
        results.push(
          ...(await Promise.all(
            ['g1', 'g2'].map((group) =>
              handler({ action: 'check', group }, { ...context, awsRequestId: group }),
            ),
          )),
        );
      } finally {
        process.env.GROUP = 'g1';
      }
      for (let i = 0; i < 3; i++) {
        const r = await handler({ source: 'schedule', group: 'g1' }, context);
        results.push(r);
        if (r.report?.analysis?.code === 'Ok') break;
      }
    } finally {
      output.stop();
    }

    // It really was a full failover, with every kind of output produced.
    const master = results.find((r) => r.report?.operation?.role === 'master');
    expect(
      master?.report.operation.outcome,
      JSON.stringify([master?.report.operation.error, master?.report.operation.timeline]),
    ).toBe('completed');
    expect(master?.report.operation).toMatchObject({ operation: 'failover', outcome: 'completed' });
    const kinds = master.report.operation.steps.map((s: Json) => `${s.kind}:${s.outcome}`);
    expect(kinds).toEqual(
      expect.arrayContaining([
        'Fence:done',
        'Promote:done',
        'Salvage:done',
        'Reseed:done',
        'StartReplication:done',
      ]),
    );
    // No step was refused by the server: the documented grants were enough.
    expect(master.report.operation.steps.filter((s: Json) => s.outcome === 'failed')).toEqual([]);
    expect(results.at(-1)?.report?.analysis?.code).toBe('Ok');
    expect(printed.join('').length).toBeGreaterThan(1000);
    expect(sns.commandCalls(PublishCommand).length).toBeGreaterThan(0);
    const objects = filesUnder(s3.directory);
    expect(objects.some((o) => o.path.includes('salvage'))).toBe(true);
    expect(objects.some((o) => o.path.includes('reseed'))).toBe(true);

    // The CLI's status output, with the credentials in its environment.
    const cli = await run(process.execPath, ['bin/repl-watchdog.mjs', 'status', '--json'], {
      env: {
        ...process.env,
        DB_SECRET_ARN: '',
        REPLICATION_SECRET_ARN: '',
        MF_DB_USER: cluster.credentials.watchdog.user,
        MF_DB_PASSWORD: cluster.credentials.watchdog.password,
        MF_REPL_USER: cluster.credentials.replication.user,
        MF_REPL_PASSWORD: cluster.credentials.replication.password,
      },
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(cli.stdout).toContain('"analysis"');

    const journal = await journalText(db2);

    const found = [
      ...leaks('handler results', JSON.stringify(results)),
      ...leaks('logs and metrics', printed.join('')),
      ...leaks('SNS', JSON.stringify(sns.commandCalls(PublishCommand).map((c) => c.args[0].input))),
      ...leaks('CLI', cli.stdout + cli.stderr),
      ...objects.flatMap((o) => leaks(o.path, o.text)),
      ...leaks('journal', journal),
    ];
    expect(found).toEqual([]);
  });

  it('asks object storage to encrypt every object at rest, with the configured KMS key', () => {
    expect(uploads.length).toBeGreaterThan(3);
    for (const u of uploads) {
      expect(u.headers['x-amz-server-side-encryption'], `${u.method} ${u.url}`).toBe('aws:kms');
      expect(u.headers['x-amz-server-side-encryption-aws-kms-key-id']).toBe('alias/mysql-failover-dumps');
    }
  });

  it('names the expected bucket owner on every request to object storage (a bucket re-created by another account is refused)', () => {
    expect(requests.length).toBeGreaterThan(10);
    expect([...new Set(requests.map((q) => q.method))]).toEqual(
      expect.arrayContaining(['PUT', 'GET', 'HEAD']),
    );
    for (const q of requests) {
      expect(q.headers['x-amz-expected-bucket-owner'], `${q.method} ${q.url}`).toBe('123456789012');
    }
  });

  it('runs with exactly the documented grants of the watchdog account', async () => {
    const [row] = await cluster.servers[1]!.query(`SHOW GRANTS FOR 'watchdog'@'%'`);
    const globalGrant = String(Object.values(row!)[0]);
    for (const need of MARIADB_WATCHDOG_PRIVILEGES.filter((p) => p.scope === 'global'))
      expect(globalGrant).toContain(need.privilege);
    expect(globalGrant).not.toMatch(/ALL PRIVILEGES|SUPER/);
  });
});
