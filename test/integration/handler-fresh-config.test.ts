/**
 * Fresh configuration in a warm container: the handler keeps the configuration and secrets for at most
 * CONFIG_MAX_AGE_MS; a password rotated meanwhile makes the servers refuse the login (1045), and the run
 * then reads the configuration again once and checks with the new password.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';

const context = {
  functionName: 'mysql-failover-g1',
  awsRequestId: 'fresh-config',
  getRemainingTimeInMillis: () => 300_000,
} as unknown as Context;

// biome-ignore lint/suspicious/noExplicitAny: JSON-shaped test access
type Json = any;
let cluster: Cluster;
let configPath: string;
let handler: (event: unknown, context: Context) => Promise<{ ok: boolean; report?: Json; error?: Json }>;

beforeAll(async () => {
  cluster = await startCluster({ servers: 2, groups: 1, name: 'fresh' });
  configPath = cluster.configFile();
  process.env.CONFIG_FILE = configPath;
  process.env.GROUP = 'g1';
  process.env.CONFIG_MAX_AGE_MS = '600000';
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
  ({ handler } = (await import('../../functions/watchdog.js')) as unknown as { handler: typeof handler });
});

afterAll(async () => {
  await cluster?.stop();
});

describe('configuration kept by a warm container', () => {
  it('picks up a rotated password at the first refused login, without waiting for the maximum age', async () => {
    const first = await handler({ source: 'schedule', group: 'g1' }, context);
    expect(first.report.analysis.code).toBe('Ok');

    // Rotate the watchdog's password (replicated to the replica) and the configuration with it.
    const rotated = 'rotated-pw-0123456789';
    await cluster.primary.query(`ALTER USER 'watchdog'@'%' IDENTIFIED BY '${rotated}'`);
    for (const r of cluster.replicas) await cluster.waitForReplication(r);
    const doc = JSON.parse(readFileSync(configPath, 'utf8')) as Json;
    doc.credentials.watchdog.password = rotated;
    writeFileSync(configPath, JSON.stringify(doc));

    const second = await handler({ source: 'schedule', group: 'g1' }, context);
    expect(second.ok).toBe(true);
    expect(second.report.analysis.code).toBe('Ok');
    for (const s of second.report.snapshot.servers) expect(s.error).toBeNull();
  });
});
