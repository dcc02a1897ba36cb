import { Metrics } from '@aws-lambda-powertools/metrics';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../functions/config/schema.js';
import type { CycleReport } from '../../../functions/operations/cycle.js';
import type { OperationResult } from '../../../functions/operations/execute.js';
import { recordCycleMetrics } from '../../../functions/operations/metrics.js';

const config = parseConfig(
  {
    clusterName: 'c1',
    servers: ['10.0.0.1:3306', '10.0.0.2:3306'],
    groups: [{ name: 'g1', routerKind: 'haproxy', routers: ['10.0.1.1:3306'] }],
  },
  'test',
);

describe('reseed progress as metrics', () => {
  it('publishes bytes, rate and ETA of the physical reseed a run followed', () => {
    const metrics = new Metrics({ namespace: 'Test', serviceName: 'watchdog' });
    const report = {
      cluster: 'c1',
      group: 'g1',
      timings: { totalMs: 10 },
      operation: {
        reseedProgress: {
          server: '10.0.0.2:3306',
          method: 'physical',
          stage: 'backup',
          bytes: 1000,
          totalBytes: 4000,
          rateBytesPerSecond: 100,
          etaSeconds: 30,
          percent: 25,
          updatedAt: '',
        },
      } as unknown as OperationResult,
    } as unknown as CycleReport;
    recordCycleMetrics(metrics, config, report);
    const emf = metrics.serializeMetrics() as unknown as Record<string, unknown>;
    expect(emf).toMatchObject({ ReseedBytes: 1000, ReseedBytesPerSecond: 100, ReseedEtaSeconds: 30 });
    expect(emf.reseedStage).toBe('physical backup 10.0.0.2:3306');
  });
});
