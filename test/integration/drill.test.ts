/**
 * The sandbox drill end to end on a 3-group cluster: writers through every router, kill -9 of the
 * primary during the load, every group's watchdog at once, restart and rebuild of the old primary,
 * checksums, and the acknowledged writes accounted for. On MariaDB behind HAProxy, and on MySQL 9.7
 * behind real MySQL Router 9.7 (what `npm start -- --flavor mysql` plays).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DrillResult, playDrill, sandboxConfig } from '../../functions/sandbox/drill.js';
import { StallWatch } from '../../functions/sandbox/harness/diagnostics.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import { describeFlavors, flavorClusterOptions } from '../harness/flavors.js';

const DRILL_LIMIT_MS = 240_000;

describeFlavors('the drill', (flavor) => {
  let cluster: Cluster;
  let result: DrillResult;

  // The hook's own limit only says that it timed out: a drill that stalls fails earlier with what it
  // was waiting for, the steps it passed and the tail of every server's and router's log.
  beforeAll(async () => {
    const watch = new StallWatch(`the drill [${flavor}]`);
    await watch.within(DRILL_LIMIT_MS, async () => {
      cluster = await startCluster({
        servers: 2,
        groups: 3,
        name: 'drill',
        ...flavorClusterOptions(flavor),
        progress: watch,
      });
      result = await playDrill(cluster, sandboxConfig(cluster, 'drill test'), () => {}, {
        rows: 500,
        progress: watch.note,
      });
    });
  }, DRILL_LIMIT_MS + 30_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  describe('the failover drill (primary killed during a write load)', () => {
    it('moves the writes of every group to the new primary', () => {
      expect(result.switchS).not.toBeNull();
      expect(result.acknowledged).toBeGreaterThan(0);
    });

    it('rebuilds the restarted old primary, which replicates again', () => {
      expect(result.redundantS).not.toBeNull();
      expect(result.finalCode).toBe('Ok');
    });

    it('ends with equal checksums on every table', () => {
      expect(result.checksums.length).toBeGreaterThan(0);
      expect(result.consistent).toBe(true);
    });

    it('loses no acknowledged write that is not listed in the salvage record', () => {
      expect(result.unexplainedLost).toBe(0);
      expect(result.salvage.length).toBeGreaterThan(0);
      expect(result.ok).toBe(true);
    });

    it('prints a timeline from the kill to the rebuild', () => {
      const text = result.timeline.join('\n');
      for (const phrase of [
        'kill -9',
        'Promote',
        'SwitchRouters',
        'Salvage',
        'Reseed',
        'StartReplication',
        'consistency',
      ]) {
        expect(text).toContain(phrase);
      }
    });
  });
});
