/**
 * Audit of one operation run: every step with start, end, outcome and detail, the election signals,
 * and a human-readable timeline. The JSON record goes to object storage; the same steps are in the
 * coordination schema's `operation_step` table (journal.ts).
 */
import type { SignalLogEntry } from '../election/protocol.js';

export type StepOutcome = 'done' | 'skipped' | 'failed' | 'already-done';

export interface AuditStep {
  seq: number;
  kind: string;
  /** The server or router group the step acts on. */
  target: string | null;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  outcome: StepOutcome;
  detail: string;
  data?: Record<string, unknown>;
  by: string;
}

export class Audit {
  readonly steps: AuditStep[] = [];
  readonly signals: SignalLogEntry[] = [];
  private readonly t0 = Date.now();

  constructor(readonly participant: string) {}

  /** Runs `work` as one audited step; rethrows its error after recording it. */
  async step<T extends { detail: string; data?: Record<string, unknown>; outcome?: 'done' | 'skipped' }>(
    seq: number,
    kind: string,
    target: string | null,
    work: () => Promise<T>,
    hooks: {
      started?: () => Promise<void>;
      ended?: (outcome: StepOutcome, detail: string) => Promise<void>;
    } = {},
  ): Promise<T> {
    const started = Date.now();
    await hooks.started?.();
    try {
      const result = await work();
      const outcome = result.outcome ?? 'done';
      this.push(seq, kind, target, started, outcome, result.detail, result.data);
      await hooks.ended?.(outcome, result.detail);
      return result;
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      this.push(seq, kind, target, started, 'failed', detail);
      await hooks.ended?.('failed', detail).catch(() => {});
      throw error;
    }
  }

  /** A step a previous master already finished (resumed operation). */
  alreadyDone(seq: number, kind: string, target: string | null, detail: string): void {
    const now = Date.now();
    this.push(seq, kind, target, now, 'already-done', detail);
  }

  private push(
    seq: number,
    kind: string,
    target: string | null,
    started: number,
    outcome: StepOutcome,
    detail: string,
    data?: Record<string, unknown>,
  ): void {
    const ended = Date.now();
    this.steps.push({
      seq,
      kind,
      target,
      startedAt: new Date(started).toISOString(),
      endedAt: new Date(ended).toISOString(),
      durationMs: ended - started,
      outcome,
      detail,
      ...(data ? { data } : {}),
      by: this.participant,
    });
  }

  /** One line per step and signal, in time order, times relative to the start of this run. */
  timeline(): string[] {
    const lines: Array<{ at: number; text: string }> = [];
    for (const s of this.steps) {
      const at = Date.parse(s.startedAt) - this.t0;
      lines.push({
        at,
        text: `${fmt(at)}  ${s.kind.padEnd(16)} ${(s.target ?? '').padEnd(21)} ${s.outcome.padEnd(12)} ${(s.durationMs / 1000).toFixed(2)}s  ${s.detail}`,
      });
    }
    for (const sig of this.signals) {
      const at = sig.atMs - this.t0;
      lines.push({
        at,
        text: `${fmt(at)}  signal ${sig.signal} ${sig.value} (epoch ${sig.epoch}, by ${sig.participant})`,
      });
    }
    return lines.sort((a, b) => a.at - b.at).map((l) => l.text);
  }
}

function fmt(ms: number): string {
  return `+${(Math.max(0, ms) / 1000).toFixed(2).padStart(7)}s`;
}
