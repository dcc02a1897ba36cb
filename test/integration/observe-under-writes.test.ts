/**
 * Observation of a healthy cluster under a steady stream of writes. The servers are probed at once,
 * so a replica's GTID set can be read a moment after the primary's, and hold transactions the primary
 * committed in between. Those are not errant: a replica that merely got ahead of an older read of its
 * primary must never be reported as diverged (ReplicaErrantTransactions rebuilds it).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  ConnectionCache,
  type ObserveTarget,
  observe,
  targetFromConfig,
} from '../../functions/cluster/observe.js';
import { parseConfig } from '../../functions/config/schema.js';
import { analyze } from '../../functions/core/analysis.js';
import type { ClusterFlavor } from '../../functions/sandbox/harness/cluster.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import { describeFlavors, flavorClusterOptions } from '../harness/flavors.js';

/** How many observations each flavor takes while the writers run. */
const OBSERVATIONS = 150;

describeFlavors('observation of a replica that keeps up with a busy primary', (flavor: ClusterFlavor) => {
  let cluster: Cluster;
  let target: ObserveTarget;

  beforeAll(async () => {
    cluster = await startCluster({
      servers: 2,
      groups: 1,
      name: `busy-${flavor}`,
      ...flavorClusterOptions(flavor),
    });
    await cluster.primary.query('CREATE DATABASE busy');
    await cluster.primary.query(
      'CREATE TABLE busy.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(20))',
    );
    for (const r of cluster.replicas) await cluster.waitForReplication(r);
    target = targetFromConfig(parseConfig(cluster.config(), 'busy'));
  }, 300_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  it('never reports the replica as holding transactions the primary lacks', async () => {
    let writing = true;
    let written = 0;
    // Four writers: commits land on the replica continuously, between any two reads.
    const writers: Promise<void>[] = Array.from({ length: 4 }, async () => {
      const conn = await cluster.primary.connect();
      try {
        while (writing) {
          await conn.query("INSERT INTO busy.t (note) VALUES ('busy')");
          written++;
        }
      } finally {
        await conn.end().catch(() => conn.destroy());
      }
    });
    const cache = new ConnectionCache();
    const codes = new Map<string, number>();
    const evidence: string[] = [];
    try {
      for (let i = 0; i < OBSERVATIONS; i++) {
        const snapshot = await observe(target, {
          ...cluster.credentials.watchdog,
          cache,
          connectTimeoutMs: 5_000,
          queryTimeoutMs: 10_000,
        });
        const a = analyze(snapshot);
        codes.set(a.code, (codes.get(a.code) ?? 0) + 1);
        if (a.code === 'ReplicaErrantTransactions' && evidence.length < 3) evidence.push(a.evidence[0] ?? '');
      }
    } finally {
      writing = false;
      await Promise.all(writers);
      await cache.close();
    }
    expect(written).toBeGreaterThan(OBSERVATIONS);
    expect({ errant: codes.get('ReplicaErrantTransactions') ?? 0, evidence }).toEqual({
      errant: 0,
      evidence: [],
    });
  }, 300_000);
});
