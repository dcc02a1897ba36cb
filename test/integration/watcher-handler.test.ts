/**
 * The Lambda handler on the backend watchers' events, against a real local cluster: an event starts a
 * normal check of the function's own group; a burst of the same death reported by every backend (the
 * same EventBridge stamp, queued behind the first check) is answered as covered without a cycle; a later
 * report starts a check again.
 */
import { readFileSync } from 'node:fs';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';

const context = {
  functionName: 'mysql-failover-g1',
  awsRequestId: 'test-request',
  getRemainingTimeInMillis: () => 300_000,
} as unknown as Context;

// biome-ignore lint/suspicious/noExplicitAny: JSON-shaped test access
type Json = any;
let cluster: Cluster;
let handler: (event: unknown, context: Context) => Promise<{ ok: boolean; skipped?: string; report?: Json }>;

/** The sample watcher event, from a given backend, as EventBridge stamps it at `atMs` (whole seconds). */
function watcherEvent(backend: string, atMs: number): Json {
  const event = JSON.parse(readFileSync('events/watcher-primary-down.json', 'utf8')) as Json;
  event.time = new Date(atMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
  event.detail = { ...event.detail, cluster: cluster.name, group: 'g1', backend };
  return event;
}

beforeAll(async () => {
  cluster = await startCluster({ servers: 2, groups: 1, name: 'watcher-handler' });
  process.env.CONFIG_FILE = cluster.configFile();
  process.env.GROUP = 'g1';
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
  ({ handler } = (await import('../../functions/watchdog.js')) as unknown as { handler: typeof handler });
});

afterAll(async () => {
  await cluster?.stop();
});

describe('watchdog handler on watcher events', () => {
  it('checks its own group on the first report, answers the rest of the burst as covered, checks again on a later report', async () => {
    // Every backend reported within the same second, a little before the first check starts.
    const stamp = Math.floor((Date.now() - 1_000) / 1_000) * 1_000;
    const first = await handler(watcherEvent('i-1', stamp), context);
    expect(first.skipped).toBeUndefined();
    expect(first.ok).toBe(true);
    expect(first.report).toMatchObject({
      trigger: 'watcher',
      action: 'check',
      group: 'g1',
      analysis: { code: 'Ok' },
    });

    for (const backend of ['i-2', 'i-3', 'i-4']) {
      const covered = await handler(watcherEvent(backend, stamp), context);
      expect(covered.ok).toBe(true);
      expect(covered.report).toBeUndefined();
      expect(covered.skipped).toMatch(/^covered by the cycle started at /);
    }

    // A report stamped after that check started (a watcher's next repeat, a second later): a new check.
    const later = await handler(watcherEvent('i-1', Date.now() + 1_000), context);
    expect(later.skipped).toBeUndefined();
    expect(later.report).toMatchObject({ trigger: 'watcher', analysis: { code: 'Ok' } });
  });
});
