/**
 * What an operation run sends out: the SNS summary, the continuation event (read back by the event
 * parser), and the audit timeline. Pure: reports in, text out.
 */
import { describe, expect, it } from 'vitest';
import { Audit } from '../../../functions/operations/audit.js';
import type { CycleReport } from '../../../functions/operations/cycle.js';
import type { OperationResult } from '../../../functions/operations/execute.js';
import { alertSummary, continuationEvent, operationSummary } from '../../../functions/operations/notify.js';
import { parseEvent } from '../../../functions/triggers/events.js';

function report(operation?: Partial<OperationResult>): CycleReport {
  return {
    cluster: 'prod',
    group: 'g1',
    trigger: 'alarm',
    action: 'check',
    dryRun: false,
    force: false,
    mode: 'execute',
    startedAt: '2026-01-01T00:00:00.000Z',
    timings: { totalMs: 1 },
    ...(operation
      ? {
          operation: {
            operation: 'failover',
            participant: 'g1@1-abcd',
            role: 'master',
            outcome: 'completed',
            coordinationServer: 'db2:3306',
            epoch: 4,
            openedEpoch: 3,
            master: 'g1@1-abcd',
            target: 'db2:3306',
            steps: [
              {
                seq: 0,
                kind: 'Fence',
                target: 'db1:3306',
                startedAt: '2026-01-01T00:00:00.000Z',
                endedAt: '2026-01-01T00:00:00.100Z',
                durationMs: 100,
                outcome: 'done',
                detail: 'db1:3306 read_only=ON',
                by: 'g1@1-abcd',
              },
            ],
            salvage: [],
            checksums: [],
            timeline: [],
            auditUrl: 's3://b/operations/prod/000003/audit/x.json',
            warnings: [],
            continuationNeeded: false,
            durationMs: 1234,
            ...operation,
          },
        }
      : {}),
  };
}

describe('operationSummary', () => {
  it('says nothing when the run executed nothing', () => {
    expect(operationSummary(report())).toBeNull();
  });

  it('names the operation, the outcome, every step and the audit record', () => {
    const t = operationSummary(report({}))!;
    expect(t.subject).toBe('[mysql-failover] prod/g1: failover completed (master)');
    expect(t.subject.length).toBeLessThanOrEqual(100);
    expect(t.message).toContain('Fence db1:3306 done 0.10s db1:3306 read_only=ON');
    expect(t.message).toContain('audit record: s3://b/operations/prod/000003/audit/x.json');
  });

  it('lists the salvage records', () => {
    const t = operationSummary(
      report({
        salvage: [
          {
            server: 'db1:3306',
            missingOn: 'db2:3306',
            difference: '0-1-18,0-1-19',
            setDifference: '0-1-[18..19]',
            count: 2,
            transactions: [],
            binlogExtract: null,
            backup: null,
            url: 's3://b/salvage.json',
            createdAt: '',
          },
        ],
      }),
    )!;
    expect(t.message).toContain('db1:3306: 2 transaction(s) 0-1-18,0-1-19 -> s3://b/salvage.json');
  });
});

describe('continuationEvent', () => {
  it('is only sent for a run stopped at its deadline', () => {
    expect(continuationEvent(report({}))).toBeNull();
    expect(continuationEvent(report())).toBeNull();
  });

  it('is an event the handler accepts as a continuation of its group', () => {
    const event = continuationEvent(report({ outcome: 'aborted', continuationNeeded: true }));
    expect(event).toMatchObject({
      source: 'mysql-failover.continuation',
      group: 'g1',
      resume: { openedEpoch: 3 },
    });
    const invocation = parseEvent(event);
    expect(invocation).toMatchObject({ trigger: 'continuation', group: 'g1', dryRun: false });
  });
});

describe('Audit', () => {
  it('records start, end and outcome of each step, failures included, in a timeline', async () => {
    const audit = new Audit('g1@1');
    await audit.step(0, 'Fence', 'db1:3306', async () => ({ detail: 'fenced' }));
    await expect(
      audit.step(1, 'Promote', 'db2:3306', async () => {
        throw new Error('read_only refused');
      }),
    ).rejects.toThrow('read_only refused');
    audit.alreadyDone(2, 'Salvage', 'db1:3306', 'done by g2 (epoch 1)');
    expect(audit.steps.map((s) => [s.kind, s.outcome, s.detail])).toEqual([
      ['Fence', 'done', 'fenced'],
      ['Promote', 'failed', 'read_only refused'],
      ['Salvage', 'already-done', 'done by g2 (epoch 1)'],
    ]);
    for (const s of audit.steps)
      expect(Date.parse(s.endedAt)).toBeGreaterThanOrEqual(Date.parse(s.startedAt));
    const lines = audit.timeline();
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/Promote\s+db2:3306\s+failed/);
  });
});

describe('alertSummary', () => {
  it('alerts loudly on a critical situation left to an operator, naming what was held back', () => {
    const r = report();
    r.analysis = {
      code: 'SplitBrain',
      description: 'Writes can reach two servers',
      evidence: ['db1:3306 and db2:3306 are both heads'],
      primary: 'db1:3306',
      candidate: 'db1:3306',
      oldPrimary: null,
      affected: ['db2:3306'],
      errant: [],
      routers: { total: 1, answering: 1, targets: {} },
      also: [],
      takenAt: '',
    };
    r.plan = {
      kind: 'alert-only',
      severity: 'critical',
      steps: [],
      reason: 'the split-brain policy is alert-only',
      code: 'SplitBrain',
      dryRun: false,
      suppressed: { operation: 'split-brain', because: 'splitBrainPolicy is alert-only' },
    };
    const a = alertSummary(r)!;
    expect(a.subject).toBe('[mysql-failover] ALERT prod/g1: SplitBrain');
    expect(a.message).toContain('held back: split-brain (splitBrainPolicy is alert-only)');
    expect(a.message).toContain('db1:3306 and db2:3306 are both heads');
  });

  it('stays quiet for warnings and for runs that executed an operation', () => {
    const r = report();
    r.plan = {
      kind: 'alert-only',
      severity: 'warning',
      steps: [],
      reason: '',
      code: 'ReplicaDown',
      dryRun: false,
    };
    expect(alertSummary(r)).toBeNull();
    expect(alertSummary(report({}))).toBeNull();
  });
});
