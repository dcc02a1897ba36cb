/** Progress of a dump or restore: counters, rate and ETA, reported at intervals and once at the end. */
export interface ProgressReport {
  phase: 'dump' | 'restore';
  final: boolean;
  elapsedS: number;
  objectsDone: number;
  objectsTotal: number;
  rows: number;
  /** Uncompressed SQL bytes. */
  bytes: number;
  compressedBytes: number;
  rowsPerS: number;
  mbPerS: number;
  /** Expected total rows (estimate for a dump, exact for a restore), when known. */
  rowsTotal?: number;
  /** Seconds left at the current rate, when a total is known. */
  etaS?: number;
}

export type ProgressListener = (report: ProgressReport) => void;

export class ProgressTracker {
  private readonly started = Date.now();
  private timer: NodeJS.Timeout | undefined;
  rows = 0;
  bytes = 0;
  compressedBytes = 0;
  objectsDone = 0;

  constructor(
    private readonly phase: 'dump' | 'restore',
    public objectsTotal: number,
    public rowsTotal: number | undefined,
    private readonly listener: ProgressListener | undefined,
    intervalMs = 5_000,
  ) {
    if (listener && intervalMs > 0) {
      this.timer = setInterval(() => listener(this.report(false)), intervalMs);
      this.timer.unref();
    }
  }

  report(final: boolean): ProgressReport {
    const elapsedS = Math.max(0.001, (Date.now() - this.started) / 1000);
    const rowsPerS = this.rows / elapsedS;
    const r: ProgressReport = {
      phase: this.phase,
      final,
      elapsedS: Math.round(elapsedS * 10) / 10,
      objectsDone: this.objectsDone,
      objectsTotal: this.objectsTotal,
      rows: this.rows,
      bytes: this.bytes,
      compressedBytes: this.compressedBytes,
      rowsPerS: Math.round(rowsPerS),
      mbPerS: Math.round((this.bytes / 1048576 / elapsedS) * 10) / 10,
    };
    if (this.rowsTotal !== undefined) {
      r.rowsTotal = this.rowsTotal;
      if (rowsPerS > 0) r.etaS = Math.max(0, Math.round((this.rowsTotal - this.rows) / rowsPerS));
    }
    return r;
  }

  /** Stops the interval and reports the summary. */
  finish(): ProgressReport {
    if (this.timer) clearInterval(this.timer);
    const r = this.report(true);
    this.listener?.(r);
    return r;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/** A one-line human summary for logs and the CLI. */
export function formatProgress(r: ProgressReport): string {
  const mb = (r.bytes / 1048576).toFixed(1);
  const eta = r.etaS !== undefined && !r.final ? `, ETA ${r.etaS}s` : '';
  const total = r.rowsTotal !== undefined ? `/${r.rowsTotal}` : '';
  return `${r.phase}${r.final ? ' done' : ''}: ${r.objectsDone}/${r.objectsTotal} objects, ${r.rows}${total} rows, ${mb} MB in ${r.elapsedS}s (${r.rowsPerS} rows/s, ${r.mbPerS} MB/s${eta})`;
}
