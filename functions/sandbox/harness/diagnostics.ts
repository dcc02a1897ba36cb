/**
 * What a harness wait that ran out of time reports, so that a stalled test says why without a rerun:
 * what it was waiting for, the steps it had passed (and how long ago), and the tail of every log in
 * the cluster folder (each server's error log, each router's log and the output its process printed).
 *
 * `StallWatch` is for a long chain of waits (a test's beforeAll, a drill): the chain notes its steps,
 * and `within()` fails with all of the above before the test runner's own timeout, whose message says
 * only that a hook timed out.
 */
import { closeSync, fstatSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ProcessError } from '../../errors.js';

export interface LogTail {
  /** The log's path relative to the cluster folder (db1/error.log, g1r1/mysqlrouter.log, ...). */
  file: string;
  /** Its size in bytes. */
  size: number;
  /** Its last bytes (whole lines where possible). */
  tail: string;
}

/** Folders of a cluster folder that hold data, not logs. */
const NOT_LOGS = new Set(['data', 'objects', 'backups', 'templates']);

/** The last lines of a log's text for an error message (whole lines, about `bytes` of them). */
export function logTail(text: string, bytes = 2_000): string {
  if (text.trim() === '') return '(empty)';
  if (text.length <= bytes) return text.trimEnd();
  const tail = text.slice(-bytes);
  const newline = tail.indexOf('\n');
  return (newline >= 0 && newline < tail.length - 1 ? tail.slice(newline + 1) : tail).trimEnd();
}

/** The last `bytes` bytes of a file, starting at a line boundary when the file is longer. */
export function fileTail(path: string, bytes = 2_000): { size: number; tail: string } {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, bytes);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    let text = buffer.toString('utf8');
    if (length < size) {
      const newline = text.indexOf('\n');
      if (newline >= 0 && newline < text.length - 1) text = text.slice(newline + 1);
    }
    return { size, tail: text };
  } finally {
    closeSync(fd);
  }
}

/** The tail of every *.log file in a cluster folder and its server and router folders (not in datadirs). */
export function logTails(dir: string, bytes = 2_000): LogTail[] {
  const found: LogTail[] = [];
  const visit = (folder: string, depth: number): void => {
    let entries: string[];
    try {
      entries = readdirSync(folder).sort();
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(folder, entry);
      let isDir: boolean;
      try {
        isDir = statSync(path).isDirectory();
      } catch {
        continue;
      }
      if (isDir) {
        if (depth < 2 && !NOT_LOGS.has(entry)) visit(path, depth + 1);
      } else if (entry.endsWith('.log')) {
        try {
          found.push({ file: relative(dir, path), ...fileTail(path, bytes) });
        } catch {
          // gone meanwhile
        }
      }
    }
  };
  visit(dir, 0);
  return found;
}

/** Log tails as text, one headed block per file (empty logs named on one line). */
export function formatLogTails(tails: readonly LogTail[]): string {
  if (tails.length === 0) return '(no log files)';
  return tails
    .map((t) =>
      t.size === 0
        ? `--- ${t.file}: empty`
        : `--- ${t.file} (last ${Buffer.byteLength(t.tail)} of ${t.size} bytes)\n${t.tail.trimEnd()}`,
    )
    .join('\n');
}

/**
 * Notes the steps of a long chain of waits and fails it, with what it was waiting for and the logs of
 * its cluster folders, when it runs out of time.
 */
export class StallWatch {
  private readonly steps: Array<{ at: number; text: string }> = [];
  private readonly folders = new Set<string>();
  private readonly started = Date.now();
  /** The step() under way, if any: what a stall was waiting for even after later notes. */
  private current: { text: string; at: number } | null = null;
  /** Set once a limit of within() or step() has fired: the chain's work may still be running. */
  stalledAt: string | null = null;

  constructor(
    readonly what: string,
    private readonly bytesPerLog = 2_000,
  ) {}

  /** Records a step ("waiting for ...", "... done"); the last one is what a stall was waiting for. */
  readonly note = (text: string): void => {
    this.steps.push({ at: Date.now(), text });
  };

  /** A cluster folder whose logs a stall report includes. */
  readonly folder = (dir: string): void => {
    this.folders.add(dir);
  };

  /** The steps so far, with their time since the start. */
  lines(): string[] {
    return this.steps.map((s) => `+${((s.at - this.started) / 1000).toFixed(1).padStart(6)} s  ${s.text}`);
  }

  /** The error a stall throws: what was awaited, since when, the steps, and the tail of every log. */
  stalled(limitMs: number): ProcessError {
    const last = this.current ?? this.steps.at(-1);
    this.stalledAt = last?.text ?? 'its first step';
    const waiting = last
      ? `${last.text} (noted ${((Date.now() - last.at) / 1000).toFixed(1)} s ago)`
      : 'its first step';
    const logs = [...this.folders].map(
      (dir) => `=== logs in ${dir}\n${formatLogTails(logTails(dir, this.bytesPerLog))}`,
    );
    return new ProcessError(
      [
        `${this.what} did not finish within ${Math.round(limitMs / 1000)} s; stalled at: ${waiting}`,
        'steps:',
        ...this.lines(),
        ...logs,
      ].join('\n'),
      {
        details: {
          what: this.what,
          stall: true,
          limitMs,
          waiting: last?.text ?? null,
          folders: [...this.folders],
        },
      },
    );
  }

  /**
   * One awaited step of the chain, with its own limit: noted as `waiting for <text>` (and as done, with
   * its time, when it ends); past `limitMs` it fails with `stalled()` naming it. The step's work goes
   * on in the background, as with within().
   */
  async step<T>(text: string, limitMs: number, work: () => Promise<T>): Promise<T> {
    const at = Date.now();
    const waiting = { text: `waiting for ${text} (limit ${Math.round(limitMs / 1000)} s)`, at };
    this.steps.push(waiting);
    const outer = this.current;
    this.current = waiting;
    try {
      const value = await raceLimit(limitMs, work, () => this.stalled(limitMs));
      this.note(`${text}: done in ${((Date.now() - at) / 1000).toFixed(1)} s`);
      return value;
    } catch (error) {
      if (!isStall(error)) this.note(`${text}: failed after ${((Date.now() - at) / 1000).toFixed(1)} s`);
      throw error;
    } finally {
      if (this.current === waiting) this.current = outer;
    }
  }

  /**
   * Runs `work`, failing with `stalled()` after `limitMs` (the work itself goes on in the background
   * until whatever it awaits gives up; the caller's cleanup stops its cluster).
   */
  within<T>(limitMs: number, work: () => Promise<T>): Promise<T> {
    return raceLimit(limitMs, work, () => this.stalled(limitMs));
  }
}

/** True for the error a StallWatch limit throws (within() or step()). */
export function isStall(error: unknown): error is ProcessError {
  return error instanceof ProcessError && error.details.stall === true;
}

/** `work()`, or `onLimit()` thrown once `limitMs` has passed (the work is not stopped). */
async function raceLimit<T>(limitMs: number, work: () => Promise<T>, onLimit: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onLimit()), limitMs);
  });
  try {
    return await Promise.race([work(), limit]);
  } finally {
    clearTimeout(timer);
  }
}
