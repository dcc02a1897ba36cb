/**
 * Progress of a long reseed (pure): from the record the streaming helper rewrites every few seconds
 * (reseed-progress/1) to bytes, rate and ETA, the shape the journal, `repl-watchdog status`, the logs
 * and the ReseedProgress metrics share.
 */

/** What object-stream.py writes to KEY.progress.json (backup) or KEY.restore-progress.json (restore). */
export interface ProgressRecord {
  stage: 'backup' | 'restore';
  rawBytes: number;
  storedBytes: number;
  expectedBytes: number;
  elapsedMs: number;
  updatedAt: string;
  done: boolean;
}

export interface ReseedProgress {
  server: string;
  method: 'physical' | 'logical' | 'clone';
  stage: string;
  /** Bytes done in this stage: backup counts the data read, restore the compressed bytes fetched. */
  bytes: number;
  /** The stage's expected total (the source's datadir; the backup object's size), 0 when unknown. */
  totalBytes: number;
  rateBytesPerSecond: number;
  /** Seconds left at the current rate, null when the total or the rate is unknown. */
  etaSeconds: number | null;
  percent: number | null;
  updatedAt: string;
}

export function progressOf(server: string, record: ProgressRecord): ReseedProgress {
  const bytes = record.stage === 'backup' ? record.rawBytes : record.storedBytes;
  // Once done, what was read is the total (the estimate is only an estimate).
  const total = record.done ? bytes : record.expectedBytes;
  const measured = rateAndEta(bytes, total, record.elapsedMs / 1000);
  return {
    server,
    method: 'physical',
    stage: record.stage,
    bytes,
    totalBytes: total,
    ...measured,
    etaSeconds: record.done ? 0 : measured.etaSeconds,
    updatedAt: record.updatedAt,
  };
}

/** Rate, ETA and percent of `bytes` of `total` (0: unknown) done in `seconds`. */
function rateAndEta(
  bytes: number,
  total: number,
  seconds: number,
): Pick<ReseedProgress, 'rateBytesPerSecond' | 'etaSeconds' | 'percent'> {
  const rate = seconds > 0 ? bytes / seconds : 0;
  // An estimate can be exceeded (files grew during the backup): never a negative ETA.
  const left = Math.max(0, total - bytes);
  return {
    rateBytesPerSecond: Math.round(rate),
    etaSeconds: total > 0 && rate > 0 ? Math.round(left / rate) : null,
    percent: total > 0 ? Math.min(100, Math.round((bytes / total) * 1000) / 10) : null,
  };
}

/**
 * A running CLONE's progress, from the recipient's performance_schema.clone_progress row of the stage
 * in progress (DROP DATA, FILE COPY, PAGE COPY, ...): bytes copied, the stage's estimate, and how long
 * the stage has run (microseconds, by the recipient's clock).
 */
export function cloneProgressOf(
  server: string,
  row: { stage: string; bytes: number; estimate: number; stageMicros: number },
  updatedAt: string,
): ReseedProgress {
  return {
    server,
    method: 'clone',
    stage: row.stage.toLowerCase(),
    bytes: row.bytes,
    totalBytes: row.estimate,
    ...rateAndEta(row.bytes, row.estimate, row.stageMicros / 1e6),
    updatedAt,
  };
}

function mb(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

/** One line for logs and `repl-watchdog status`. */
export function describeProgress(p: ReseedProgress): string {
  const of = p.totalBytes > 0 ? ` of ${mb(p.totalBytes)}${p.percent !== null ? ` (${p.percent}%)` : ''}` : '';
  const eta = p.etaSeconds === null ? '' : `, ETA ${p.etaSeconds} s`;
  return `${p.server}: ${p.method} ${p.stage} ${mb(p.bytes)}${of} at ${mb(p.rateBytesPerSecond)}/s${eta}`;
}
