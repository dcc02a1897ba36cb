/**
 * Shared by the operator-policy tests (policy.test.ts, force.test.ts): an analysis built by hand, and
 * MariaDB replicas cloned from the captured Ok snapshot with the given position, lag, delay, reachability.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Analysis, AnalysisCode } from '../../../functions/core/analysis.js';
import {
  gtidValue,
  hydrateSnapshot,
  type ServerObservation,
  type Snapshot,
} from '../../../functions/core/snapshot.js';

export const NOW = Date.parse('2026-12-02T12:00:00Z');
export const A = '10.0.0.1:3306';
export const B = '10.0.0.2:3306';
export const C = '10.0.0.3:3306';

export function analysis(code: AnalysisCode, extra: Partial<Analysis> = {}): Analysis {
  return {
    code,
    description: code,
    evidence: [],
    primary: A,
    candidate: null,
    oldPrimary: null,
    affected: [],
    errant: [],
    routers: { total: 1, answering: 1, targets: { [A]: 1 } },
    also: [],
    takenAt: new Date(NOW).toISOString(),
    ...extra,
  };
}

const okText = readFileSync(join(import.meta.dirname, '../../fixtures/snapshots/Ok.json'), 'utf8');

/** MariaDB replicas with the given gtid position, lag and delay (cloned from the captured replica). */
export function replicas(
  specs: Array<{ id: string; pos: string; lag?: number; delay?: number; reachable?: boolean }>,
): ServerObservation[] {
  const base = hydrateSnapshot(JSON.parse(okText) as Snapshot).servers[1]!;
  return specs.map((spec) => {
    const s = JSON.parse(JSON.stringify(base)) as ServerObservation;
    s.id = spec.id;
    s.reachable = spec.reachable ?? true;
    s.gtid.binlogPos = gtidValue(spec.pos, 'mariadb');
    s.gtid.currentPos = gtidValue(spec.pos, 'mariadb');
    s.gtid.binlogState = { raw: null };
    s.replication!.secondsBehind = spec.lag ?? 0;
    if (spec.delay) s.replication!.sqlDelay = spec.delay;
    return s;
  });
}
