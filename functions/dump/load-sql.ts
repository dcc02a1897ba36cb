import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { DbError, DeadlineError, DumpIntegrityError, errorMessage, WatchdogError } from '../errors.js';
import {
  type Conn,
  type ConnectTarget,
  connect,
  describeTarget,
  RAW_BYTES,
  withTrustedFunctionCreators,
} from './connection.js';
import { execStatement } from './definer.js';
import { type ProgressListener, type ProgressReport, ProgressTracker } from './progress.js';
import { SqlSplitter } from './sql-splitter.js';

export interface LoadSqlOptions {
  target: ConnectTarget;
  /** A plain mysqldump / mariadb-dump file, gzipped or not (detected from its first bytes). */
  source: Readable;
  /** For messages. */
  name?: string;
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  progressIntervalMs?: number;
}

export interface LoadSqlResult {
  statements: number;
  /**
   * The GTID set of a mysqldump file's `SET @@GLOBAL.GTID_PURGED=...` line, which is NOT run: on 5.7 it
   * fails unless the target's gtid_executed is empty, and on 8.0+ (`'+'` prefix) it appends the dump's
   * GTIDs to the target's. A caller that wants the target positioned at the dump sets it explicitly
   * (Flavor.setGtidPositionAfterRestore). null when the file has none.
   */
  gtidPurged: string | null;
  rows: number;
  bytes: number;
  warnings: string[];
  summary: ProgressReport;
}

async function* maybeGunzip(source: Readable): AsyncGenerator<Buffer> {
  const it = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return;
  async function* all(): AsyncGenerator<Buffer> {
    yield first.value as Buffer;
    for (;;) {
      const n = await it.next();
      if (n.done) return;
      yield n.value as Buffer;
    }
  }
  const head = first.value as Buffer;
  if (head[0] === 0x1f && head[1] === 0x8b) {
    const gunzip = createGunzip({ chunkSize: 256 * 1024 });
    const feeding = pipeline(Readable.from(all()), gunzip).catch((e: unknown) => gunzip.destroy(e as Error));
    yield* gunzip as AsyncIterable<Buffer>;
    await feeding;
  } else {
    yield* all();
  }
}

/**
 * Loads an operator's own dump file (mysqldump or mariadb-dump output, with DELIMITER blocks and
 * executable comments) statement by statement, without writing the target's binary log. Such a file
 * carries no checksums, so it is loaded in one pass and not resumable; a gzip error or a file that
 * ends inside a statement is refused with a DumpIntegrityError.
 */
export async function loadSqlDump(options: LoadSqlOptions): Promise<LoadSqlResult> {
  const { signal } = options;
  const name = options.name ?? 'SQL file';
  const progress = new ProgressTracker(
    'restore',
    1,
    undefined,
    options.onProgress,
    options.progressIntervalMs,
  );
  let conn: Conn | undefined;
  const onAbort = () => conn?.destroy();
  signal?.addEventListener('abort', onAbort, { once: true });
  let statements = 0;
  const warnings: string[] = [];
  let gtidPurged: string | null = null;
  let tail = '';
  let head = '';
  try {
    if (signal?.aborted) throw new DeadlineError('load aborted', { cause: signal.reason });
    conn = await connect(options.target, RAW_BYTES);
    await conn.p.query('SET SESSION sql_log_bin = 0');
    await conn.p.query('SET SESSION FOREIGN_KEY_CHECKS = 0, UNIQUE_CHECKS = 0');
    const splitter = new SqlSplitter();
    const run = async (stmts: Buffer[]) => {
      for (const s of stmts) {
        statements++;
        const purged = gtidPurgedOf(s);
        if (purged !== null) {
          gtidPurged = purged;
          warnings.push(
            `${name}: SET @@GLOBAL.GTID_PURGED not run (the target's GTID state is unchanged): ${purged}`,
          );
          continue;
        }
        try {
          progress.rows += await execStatement(conn as Conn, s, warnings);
        } catch (error) {
          throw new DbError(
            `${name}: statement ${statements} failed: ${errorMessage(error)}: ${s.subarray(0, 160).toString('utf8')}`,
            { cause: error },
          );
        }
      }
    };
    await withTrustedFunctionCreators(conn, async () => {
      try {
        for await (const chunk of maybeGunzip(options.source)) {
          progress.bytes += chunk.length;
          if (head.length < 64) head += chunk.subarray(0, 64).toString('latin1');
          tail = (tail + chunk.subarray(Math.max(0, chunk.length - 256)).toString('latin1')).slice(-256);
          await run(splitter.push(chunk));
        }
      } catch (error) {
        if (error instanceof WatchdogError || signal?.aborted) throw error;
        throw new DumpIntegrityError(`${name} could not be read to the end: ${errorMessage(error)}`, {
          cause: error,
        });
      }
      if (splitter.inQuoteOrComment) {
        throw new DumpIntegrityError(`${name} ends inside a quoted string or comment: the file is truncated`);
      }
      await run(splitter.end());
    });
    // mysqldump and mariadb-dump end with this line; a file that starts like one of theirs must too
    // (a file cut at a statement boundary is otherwise indistinguishable from a complete one).
    if (/^-- (MySQL|MariaDB) dump/.test(head) && !/-- Dump completed/.test(tail)) {
      throw new DumpIntegrityError(`${name} has no '-- Dump completed' footer: the file is truncated`);
    }
    progress.objectsDone = 1;
    return {
      statements,
      gtidPurged,
      rows: progress.rows,
      bytes: progress.bytes,
      warnings,
      summary: progress.finish(),
    };
  } catch (error) {
    progress.stop();
    if (signal?.aborted)
      throw new DeadlineError(`loading ${name} stopped: ${errorMessage(signal.reason)}`, { cause: error });
    if (error instanceof WatchdogError) throw error;
    throw new DbError(
      `loading ${name} into ${describeTarget(options.target)} failed: ${errorMessage(error)}`,
      {
        cause: error,
      },
    );
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await conn?.close();
  }
}

/**
 * The GTID set of a `SET @@GLOBAL.GTID_PURGED = ...` statement (mysqldump --set-gtid-purged), or null
 * for any other statement. mysqldump 8.0+ puts a versioned comment holding '+' before the set (append).
 */
export function gtidPurgedOf(statement: Buffer | string): string | null {
  const text = (typeof statement === 'string' ? statement : statement.subarray(0, 65_536).toString('utf8'))
    .replace(/\/\*![0-9]*\s*'\+'\s*\*\//g, '')
    .trim();
  const m = /^SET\s+@@(?:GLOBAL\.)?GTID_PURGED\s*=\s*'([^']*)'\s*;?$/is.exec(text);
  return m ? m[1]!.replace(/\s+/g, '') : null;
}
