/**
 * The readable views the CLI and the sandbox print: servers, replication, routers, the ongoing operation,
 * and the analysis with its plan. Pure: report in, text out.
 */

import type { Step } from '../core/planner.js';
import type { RouterObservation, ServerObservation, Snapshot } from '../core/snapshot.js';
import type { CycleReport } from './cycle.js';
import { describeProgress } from './physical/progress.js';

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map((row) =>
    row
      .map((cell, i) => pad(cell, widths[i] ?? 0))
      .join('  ')
      .trimEnd(),
  );
}

function serverRole(s: ServerObservation, snapshot: Snapshot): string {
  if (!s.reachable) return 'DOWN';
  const routedTo = snapshot.routers.some((r) => r.routesTo === s.id);
  if (s.replication) return routedTo ? 'replica (routers!)' : 'replica';
  return routedTo ? 'primary' : 'writable, no routers';
}

function replicationCell(s: ServerObservation): string {
  const r = s.replication;
  if (!s.reachable) return s.error ? `error: ${s.error.message}` : 'unreachable';
  if (!r) return '-';
  const threads = `io=${r.ioRunning} sql=${r.sqlRunning}`;
  const lag = r.secondsBehind === null ? 'lag=?' : `lag=${r.secondsBehind}s`;
  const source = `from ${r.sourceHost}:${r.sourcePort}`;
  const error = r.lastSqlError || r.lastIoError;
  return `${source} ${threads} ${lag}${error ? ` error: ${error.slice(0, 80)}` : ''}`;
}

function gtidCell(s: ServerObservation): string {
  if (!s.reachable) return '-';
  return (s.flavor === 'mysql' ? s.gtid.executed.raw : s.gtid.binlogPos.raw) || '(empty)';
}

function routerCell(r: RouterObservation): string {
  if (!r.reachable) return r.error ? `unreachable: ${r.error.message}` : 'unreachable';
  return r.routesTo ?? `unknown server (${r.landed ? `port ${r.landed.port}` : '?'})`;
}

export function formatSnapshot(snapshot: Snapshot): string {
  const lines: string[] = [];
  lines.push(`cluster ${snapshot.cluster}   observed ${snapshot.takenAt} in ${snapshot.durationMs} ms`);
  lines.push('');
  lines.push('servers');
  lines.push(
    ...table([
      ['  server', 'role', 'version', 'read_only', 'gtid', 'replication'],
      ...snapshot.servers.map((s) => [
        `  ${s.id}`,
        serverRole(s, snapshot),
        s.version ?? '-',
        s.readOnly === null ? '-' : s.readOnly ? 'ON' : 'OFF',
        gtidCell(s),
        replicationCell(s),
      ]),
    ]),
  );
  lines.push('');
  lines.push('routers');
  lines.push(
    ...table([
      ['  group', 'router', 'routes new connections to'],
      ...snapshot.routers.map((r) => [`  ${r.group}`, r.id, routerCell(r)]),
    ]),
  );
  const operation = snapshot.servers.find((s) => s.operation)?.operation;
  lines.push('');
  if (operation) {
    const lease =
      operation.leaseExpiresInMs === null
        ? ''
        : `, lease ${Math.round(operation.leaseExpiresInMs / 1000)} s left`;
    lines.push(
      `ongoing operation: epoch ${operation.epoch}, ${operation.op ?? '?'} by ${operation.master ?? '?'}${lease}`,
    );
    for (const s of operation.signals) {
      lines.push(`  ${s.at ?? ''} ${s.signal} ${s.value}${s.participant ? ` (${s.participant})` : ''}`);
    }
  } else {
    lines.push('ongoing operation: none');
  }
  return lines.join('\n');
}

/** One line per step, in words an operator reads at 3 a.m. */
export function describeStep(step: Step): string {
  switch (step.kind) {
    case 'Fence':
      return `fence ${step.server} (read_only${step.ifReachable ? ', as soon as it is reachable' : ''})`;
    case 'CatchUp':
      return step.waitFor.kind === 'position-of'
        ? `let ${step.server} apply everything ${step.waitFor.server} wrote`
        : `let ${step.server} apply what it already received`;
    case 'StopReplication':
      return `stop replication on ${step.server}`;
    case 'ResetReplication':
      return `clear the replication configuration of ${step.server}`;
    case 'Promote':
      return `promote ${step.server} (writable)`;
    case 'SemiSync':
      return `semi-sync on ${step.server} as ${step.role === 'primary' ? 'primary (waits for acknowledgements)' : 'replica (acknowledges)'}`;
    case 'WriteTarg':
      return `write TARG ${step.server} for the followers`;
    case 'SwitchRouters':
      return `switch routers to ${step.to}${step.exclude.length ? `, keeping out ${step.exclude.join(', ')}` : ''}`;
    case 'VerifyRouters':
      return `verify every router lands on ${step.to}`;
    case 'RestoreRouters':
      return `put the servers it started replicating back into the routers as fallbacks behind ${step.to}`;
    case 'Salvage':
      return `salvage transactions of ${step.server} missing on ${step.missingOn}${step.gtids ? ` (${step.gtids})` : ''}`;
    case 'Reseed':
      return `reseed ${step.server} from ${step.from} (streaming dump)`;
    case 'StartReplication':
      return `start replication on ${step.server} from ${step.from} (GTID auto-position${step.keepReadOnly ? ', kept read-only' : ''})`;
    case 'JoinElection':
      return 'join the recorded operation (election follower)';
    case 'Verify':
      return `observe again and expect ${step.expect}${step.accept.map((a) => ` (or a replica's matter with ${a.primary} the primary)`).join('')}`;
    case 'Alert':
      return `alert (${step.severity}): ${step.message}`;
    case 'Hook':
      return `${step.phase} hook: ${step.hook.via} ${step.hook.target}${step.phase === 'pre-failover' ? ` (may veto; no answer in ${step.hook.timeoutSeconds}s: ${step.hook.onNoAnswer})` : ''}`;
  }
}

function formatAnalysisAndPlan(report: CycleReport): string[] {
  const lines: string[] = [];
  if (report.analysis) {
    lines.push(`analysis: ${report.analysis.code} — ${report.analysis.description}`);
    for (const e of report.analysis.evidence)
      lines.push(`  - ${typeof e === 'string' ? e : JSON.stringify(e)}`);
  }
  if (report.plan) {
    if (report.plan.kind === 'none') {
      lines.push(`plan: nothing to do — ${report.plan.reason}`);
    } else if (report.plan.kind === 'alert-only') {
      lines.push(`plan: alert only (${report.plan.severity}) — ${report.plan.reason}`);
    } else if (report.plan.kind === 'follow') {
      lines.push(`plan: follow the recorded operation — ${report.plan.reason}`);
    } else {
      lines.push(`plan: ${report.plan.operation} — ${report.plan.reason}`);
      report.plan.steps.forEach((step, i) => {
        lines.push(`  ${i + 1}. ${describeStep(step)}`);
      });
    }
    if (report.mode === 'detect-and-plan' && report.plan.steps.length > 0) {
      lines.push('(dry run: no step was executed)');
    }
  }
  if (report.coordination?.antiFlapUntil)
    lines.push(`anti-flap period until ${report.coordination.antiFlapUntil}`);
  if (report.coordination?.fenced.length) {
    lines.push(`fenced, owed a rebuild: ${report.coordination.fenced.join(', ')}`);
  }
  for (const p of report.coordination?.reseeds ?? [])
    lines.push(`reseed in progress: ${describeProgress(p)}`);
  const op = report.operation;
  if (op) {
    lines.push(
      `execution: ${op.operation ?? 'operation'} as ${op.role} ${op.participant} — ${op.outcome}` +
        `${op.epoch !== null ? `, epoch ${op.epoch}` : ''}${op.target ? `, new primary ${op.target}` : ''}` +
        ` (${(op.durationMs / 1000).toFixed(1)} s)`,
    );
    for (const s of op.steps) {
      lines.push(
        `  ${s.kind.padEnd(16)} ${s.outcome.padEnd(12)} ${(s.durationMs / 1000).toFixed(2).padStart(6)} s  ${s.detail}`,
      );
    }
    for (const r of op.salvage) {
      lines.push(`  salvage of ${r.server}: ${r.count} transaction(s) missing on ${r.missingOn} -> ${r.url}`);
    }
    for (const w of op.warnings ?? []) lines.push(`  warning: ${w}`);
    if (op.reseedProgress) lines.push(`  reseed progress: ${describeProgress(op.reseedProgress)}`);
    if (op.auditUrl) lines.push(`  audit record: ${op.auditUrl}`);
    if (op.continuationNeeded) lines.push('  stopped at the deadline; a continuation resumes it');
    if (op.error) lines.push(`  error: ${String(op.error.message)}`);
  }
  if (report.error) lines.push(`error: ${String(report.error.message)}`);
  return lines;
}

export function formatStatus(report: CycleReport): string {
  const lines: string[] = [];
  if (report.snapshot) lines.push(formatSnapshot(report.snapshot as Snapshot), '');
  lines.push(...formatAnalysisAndPlan(report));
  return lines.join('\n');
}

export function formatCycleReport(report: CycleReport): string {
  const head = `[${report.group ?? 'all groups'}] ${report.trigger} ${report.action}${report.dryRun ? ' (dry run)' : ''} — ${report.timings.totalMs} ms, ${report.queries ?? 0} queries`;
  return [head, ...formatAnalysisAndPlan(report)].join('\n');
}
