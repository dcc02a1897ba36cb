/**
 * The Lambda deadline through the real handler: a rebuild that cannot finish before the deadline (a
 * session holds a lock the rebuild waits for) stops cleanly, the function invokes itself asynchronously with a continuation event, and that
 * continuation finishes the job. Lambda and SNS are AWS control-plane APIs with no local server, so
 * their clients are mocked; the database servers and routers are real.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';

const lambda = mockClient(LambdaClient);
const sns = mockClient(SNSClient);

// biome-ignore lint/suspicious/noExplicitAny: JSON-shaped test access
type Json = any;
const WRAP_UP_MS = 20_000;
let cluster: Cluster;
let handler: (event: unknown, context: Context) => Promise<{ ok: boolean; report?: Json; error?: Json }>;

function context(remainingMs: number): Context {
  const end = Date.now() + remainingMs;
  return {
    functionName: 'mysql-failover-g1',
    awsRequestId: `req-${remainingMs}`,
    getRemainingTimeInMillis: () => Math.max(0, end - Date.now()),
  } as unknown as Context;
}

beforeAll(async () => {
  cluster = await startCluster({ servers: 2, groups: 1, name: 'deadline' });
  const db1 = cluster.servers[0]!;
  await db1.query('CREATE DATABASE app_deadline');
  await db1.query('CREATE TABLE app_deadline.t (id INT PRIMARY KEY, v VARCHAR(80)) ENGINE=InnoDB');
  await db1.query("INSERT INTO app_deadline.t SELECT seq, REPEAT('d', 80) FROM test.seq_1_to_60000");
  await cluster.waitForReplication(cluster.servers[1]!);
  const configPath = join(cluster.dir, 'deadline.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      ...cluster.config(),
      election: { leaseMs: 2_000, followerTimeoutMs: 10_000, pollMs: 100 },
    }),
  );
  process.env.CONFIG_FILE = configPath;
  process.env.GROUP = 'g1';
  process.env.SNS_TOPIC_ARN = 'arn:aws:sns:eu-west-1:123456789012:mysql-failover';
  process.env.DEADLINE_MARGIN_MS = '100';
  // Room to wrap up after the stop (hand the lease back, audit, SNS, continuation) on a loaded machine;
  // the handler returns as soon as it is done.
  process.env.WRAP_UP_MS = String(WRAP_UP_MS);
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
  lambda.on(InvokeCommand).resolves({ StatusCode: 202 });
  sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
  ({ handler } = (await import('../../functions/watchdog.js')) as unknown as { handler: typeof handler });
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  for (const k of ['CONFIG_FILE', 'GROUP', 'SNS_TOPIC_ARN', 'DEADLINE_MARGIN_MS', 'WRAP_UP_MS'])
    delete process.env[k];
});

describe('the handler at its deadline', () => {
  it('stops the rebuild, invokes itself with a continuation, and the continuation finishes it', async () => {
    const replica = cluster.servers[1]!;
    // Read-only, as the README recommends for replicas: the rebuild then overwrites it as it is (a
    // writable target is fenced first, which ends every other session, the blocker below included).
    await replica.query('SET GLOBAL read_only = ON');
    await cluster.breakReplication(replica);
    // A dry run first: configuration, code and connections are loaded, and the plan is the rebuild.
    const dry = await handler({ action: 'check', group: 'g1', dryRun: true }, context(300_000));
    expect(dry.report.plan).toMatchObject({ kind: 'operation', operation: 'recover' });
    // The rebuild cannot finish before the deadline, however fast the machine: a session on the replica
    // holds a metadata lock on a table the operation copies until the first invocation has returned.
    // (With only a 60,000-row table to copy, an idle machine finished before a 1.4 s deadline, and a
    // loaded one had not yet started the operation.) The handler stops its own work WORK_MS after it
    // starts: margin and wrap-up are kept back from the remaining time (with 2.5 s to wrap up, a run at
    // load average 57 was cut by the Lambda deadline and returned no report).
    const WORK_MS = 15_000;
    const blocker = await replica.connect();
    let first: { ok: boolean; report?: Json };
    try {
      await blocker.query('START TRANSACTION');
      await blocker.query('SELECT id FROM app_deadline.t LIMIT 1');
      first = await handler({ action: 'check', group: 'g1' }, context(WORK_MS + 100 + WRAP_UP_MS));
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      await blocker.end();
    }
    expect(first.report, JSON.stringify(first)).toBeDefined();
    expect(first.report.analysis.code).toBe('RecoverNeeded');
    expect(first.report.operation).toMatchObject({ continuationNeeded: true, outcome: 'aborted' });

    const invokes = lambda.commandCalls(InvokeCommand);
    expect(invokes).toHaveLength(1);
    const input = invokes[0]!.args[0].input;
    expect(input).toMatchObject({ FunctionName: 'mysql-failover-g1', InvocationType: 'Event' });
    const payload = JSON.parse(Buffer.from(input.Payload as Uint8Array).toString('utf8'));
    expect(payload).toMatchObject({ source: 'mysql-failover.continuation', group: 'g1' });

    const second = await handler(payload, context(300_000));
    expect(second.report.error ?? second.report.operation?.error ?? null).toBeNull();
    expect(second.ok).toBe(true);
    expect(second.report.trigger).toBe('continuation');
    expect(second.report.operation).toMatchObject({
      role: 'master',
      outcome: 'completed',
      continuationNeeded: false,
    });
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(1);

    // Each run with an operation sent its SNS summary.
    const published = sns.commandCalls(PublishCommand).map((c) => c.args[0].input.Subject);
    expect(published).toEqual([
      expect.stringMatching(/deadline\/g1: recover aborted \(master\)/),
      expect.stringMatching(/deadline\/g1: recover completed \(master\)/),
    ]);

    const after = await handler({ action: 'check', group: 'g1', dryRun: true }, context(300_000));
    expect(after.report.analysis.code).toBe('Ok');
  }, 300_000);
});
