import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { createGunzip, gunzipSync } from 'node:zlib';
import { Flavor, inlineStatement } from '../cluster/flavor.js';
import {
  DbError,
  DeadlineError,
  DumpIntegrityError,
  errorMessage,
  SafetyRefusalError,
  WatchdogError,
} from '../errors.js';
import { type ObjectStore, readAll } from '../storage/object-store.js';
import {
  type Conn,
  type ConnectTarget,
  connect,
  describeTarget,
  RAW_BYTES,
  rows,
  withTrustedFunctionCreators,
} from './connection.js';
import { execStatement } from './definer.js';
import { isDataObjectStatement, RESTORE_CHECKPOINT_SCHEMA, RESTORE_CHECKPOINT_TABLE } from './layout.js';
import {
  type DumpObject,
  MANIFEST_KEY,
  type Manifest,
  manifestId,
  objectsInOrder,
  parseManifest,
} from './manifest.js';
import { PACKET_OVERHEAD, splitInsert } from './packet-split.js';
import { type ProgressListener, type ProgressReport, ProgressTracker } from './progress.js';
import { type ReplaySource, replayIdempotentlyUntil } from './replay.js';
import { quoteIdent } from './sql-encode.js';
import { LineStatementSplitter, SqlSplitter } from './sql-splitter.js';

export interface RestoreOptions {
  target: ConnectTarget;
  store: ObjectStore;
  /** Parallel loaders for data objects (default 2). */
  workers?: number;
  /**
   * The target already holds schemas the dump contains (and no checkpoint of this dump): drop them
   * first. Without it such a restore is refused, so a server is never overwritten by mistake.
   */
  replace?: boolean;
  /** Set the target's GTID state to the dump's position at the end (default true). */
  setGtid?: boolean;
  /**
   * A dump read over several calls (manifest gtid.replayUntil): the source the target replicates
   * from to catch up idempotently until past the latest part's position, before the restore counts
   * as finished. Without it such a restore ends with the GTID state set and a warning saying what
   * replication must do (README.md, "Dumps that resume").
   */
  replaySource?: ReplaySource;
  /** How long the catch-up may take (default 1 hour). */
  replayTimeoutMs?: number;
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  progressIntervalMs?: number;
}

export interface RestoreResult {
  url: string;
  manifest: Manifest;
  /** The GTID position the target now has (replication starts from it). */
  gtidPosition: string;
  objectsLoaded: number;
  /** Objects a previous, interrupted run had already loaded. */
  objectsSkipped: number;
  resumed: boolean;
  /** Things the operator should know (e.g. a DEFINER the target refused). */
  warnings: string[];
  /** A dump read over several calls: the idempotent catch-up done (or left to the operator). */
  replay?: { from: string; until: string; done: boolean; seconds?: number };
  summary: ProgressReport;
}

const CP = `${quoteIdent(RESTORE_CHECKPOINT_SCHEMA)}.${quoteIdent(RESTORE_CHECKPOINT_TABLE)}`;
/** The checkpoint row that marks a run of a given dump as started. */
const RUN_KEY = '';
/** The checkpoint row that says every table's count matched the manifest (no object key starts with #). */
const COUNTED_KEY = '#counted';

function str(v: unknown): string {
  if (v === null || v === undefined) return '';
  return Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
}

/**
 * Restore connections speak `binary`: statements are sent as the exact bytes of the dump (each object
 * says SET NAMES itself), so nothing is converted on the way.
 */
async function restoreConnection(target: ConnectTarget, flavor?: Flavor): Promise<Conn> {
  const c = await connect(target, RAW_BYTES);
  await c.p.query(flavor ? flavor.disableBinlogForSession() : 'SET SESSION sql_log_bin = 0');
  await c.p.query("SET SESSION FOREIGN_KEY_CHECKS = 0, UNIQUE_CHECKS = 0, time_zone = '+00:00'");
  return c;
}

/**
 * The restore's own statements (checkpoint, names in DROP DATABASE, counts, the GTID position) run on
 * a utf8mb4 connection: identifiers such as `données`.`tâble` must reach the server as UTF-8, which
 * the byte-exact `binary` connections would not send.
 */
async function metaConnection(target: ConnectTarget): Promise<Conn> {
  const c = await connect(target, { charset: 'utf8mb4' });
  await c.p.query('SET SESSION sql_log_bin = 0');
  return c;
}

async function exec(c: Conn, stmt: Buffer): Promise<number> {
  const [r] = await c.p.query(stmt.toString('latin1'));
  // Rows inserted by this statement (0 for SET, DDL and SELECT).
  return Array.isArray(r) ? 0 : ((r as { affectedRows?: number }).affectedRows ?? 0);
}

function shortSql(stmt: Buffer): string {
  return stmt.subarray(0, 160).toString('utf8').replace(/\s+/g, ' ');
}

/** Reads an object whole and checks its size and SHA-256 before any of it is applied. */
async function fetchVerified(store: ObjectStore, o: DumpObject, signal?: AbortSignal): Promise<Buffer> {
  const gz = await readAll(await store.get(o.key, signal ? { signal } : {}));
  verifyDigest(o, gz.length, createHash('sha256').update(gz).digest('hex'));
  try {
    return gunzipSync(gz);
  } catch (error) {
    throw new DumpIntegrityError(`${o.key} is not a valid gzip stream: ${errorMessage(error)}`, {
      cause: error,
      details: { key: o.key },
    });
  }
}

function verifyDigest(o: DumpObject, size: number, sha256: string): void {
  if (size !== o.compressedBytes) {
    throw new DumpIntegrityError(
      `${o.key} has ${size} bytes, the manifest says ${o.compressedBytes} (truncated?)`,
      {
        details: { key: o.key, size, expected: o.compressedBytes },
      },
    );
  }
  if (sha256 !== o.sha256) {
    throw new DumpIntegrityError(
      `${o.key} does not match its SHA-256 in the manifest (corrupt or replaced)`,
      {
        details: { key: o.key, sha256, expected: o.sha256 },
      },
    );
  }
}

/** Loads a manifest and checks that every object it lists is present with its size. */
export async function loadVerifiedManifest(store: ObjectStore): Promise<{ manifest: Manifest; id: string }> {
  const head = await store.head(MANIFEST_KEY);
  if (!head) {
    throw new DumpIntegrityError(
      `no ${MANIFEST_KEY} in ${store.url}: the dump is incomplete (manifest.json is written last) or the location is wrong`,
      { details: { url: store.url } },
    );
  }
  const bytes = await readAll(await store.get(MANIFEST_KEY));
  const manifest = parseManifest(bytes);
  const present = new Map((await store.list('')).map((o) => [o.key, o.size]));
  const missing: string[] = [];
  const wrongSize: string[] = [];
  for (const o of manifest.objects) {
    const size = present.get(o.key);
    if (size === undefined) missing.push(o.key);
    else if (size !== o.compressedBytes)
      wrongSize.push(`${o.key} (${size} bytes, manifest ${o.compressedBytes})`);
  }
  if (missing.length || wrongSize.length) {
    throw new DumpIntegrityError(
      `dump in ${store.url} does not match its manifest: ${missing.length} object(s) missing, ${wrongSize.length} with the wrong size: ${[...missing, ...wrongSize].slice(0, 5).join(', ')}`,
      { details: { missing, wrongSize } },
    );
  }
  return { manifest, id: manifestId(bytes) };
}

/**
 * Restores a dump into a target server: schema, then data objects in parallel (each in one
 * transaction together with its checkpoint row, committed only after its SHA-256 and row count
 * matched the manifest), then routines, views, triggers and events, then the GTID position.
 * An interrupted restore continues from its checkpoint: finished objects are skipped, and an object
 * that was half loaded was rolled back, so no row is ever loaded twice.
 */
export async function restoreDump(options: RestoreOptions): Promise<RestoreResult> {
  const { store, signal } = options;
  const aborted = () => {
    if (signal?.aborted)
      throw new DeadlineError('restore aborted; it resumes from its checkpoint', { cause: signal.reason });
  };
  aborted();
  const conns: Conn[] = [];
  const onAbort = () => {
    for (const c of conns) c.destroy();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  let progress: ProgressTracker | undefined;
  const warnings: string[] = [];
  let meta: Conn | undefined;
  let flavor: Flavor | undefined;
  try {
    // Everything about the dump is checked before the target is touched.
    const { manifest, id } = await loadVerifiedManifest(store);
    const ordered = objectsInOrder(manifest);
    aborted();
    const control = await restoreConnection(options.target);
    conns.push(control);
    meta = await metaConnection(options.target);
    conns.push(meta);
    const [v] = await rows(
      meta,
      'SELECT @@version AS v, @@version_comment AS c, @@global.max_allowed_packet AS maxPacket',
    );
    flavor = Flavor.detect(str(v?.v), str(v?.c));
    const packetLimit = Number(str(v?.maxPacket)) - PACKET_OVERHEAD;

    const { done, loading, resumed } = await openCheckpoint(meta, manifest, id, options.replace === true);
    const todo = ordered.filter((o) => !done.has(o.key));
    progress = new ProgressTracker(
      'restore',
      ordered.length,
      manifest.totals.rows,
      options.onProgress,
      options.progressIntervalMs,
    );
    for (const o of ordered) {
      if (done.has(o.key)) {
        progress.objectsDone++;
        progress.rows += o.rows;
      }
    }

    const runSmall = async (o: DumpObject) => {
      aborted();
      const sql = await fetchVerified(store, o, signal);
      const splitter = new SqlSplitter();
      for (const stmt of [...splitter.push(sql), ...splitter.end()]) {
        try {
          await execStatement(control, stmt, warnings);
        } catch (error) {
          // ER_TABLEACCESS_DENIED_ERROR on an account table: an account set up before reseeds copied
          // accounts lacks the grant; say which one instead of only the server's words.
          const hint =
            o.kind === 'users' && (error as { errno?: number }).errno === 1142
              ? ' (copying accounts needs INSERT, DELETE on each mysql account table: run the grant statements of the README for the watchdog account)'
              : '';
          throw new DbError(`${o.key}: statement failed: ${errorMessage(error)}${hint}: ${shortSql(stmt)}`, {
            cause: error,
          });
        }
      }
      // DDL commits by itself; re-running a schema object is harmless (DROP … IF EXISTS, CREATE).
      await meta!.p.query(
        `INSERT INTO ${CP} (dump_id, object_key, rows_loaded, sha256) VALUES (?, ?, 0, ?)`,
        [id, o.key, o.sha256],
      );
      progress!.objectsDone++;
      progress!.compressedBytes += o.compressedBytes;
      progress!.bytes += o.bytes;
    };

    for (const o of todo.filter((x) => x.kind === 'schema')) await runSmall(o);

    // Data: biggest first over N loaders; each object is one transaction.
    const data = todo.filter((x) => x.kind === 'data').sort((a, b) => b.compressedBytes - a.compressedBytes);
    const nWorkers = Math.max(1, Math.min(options.workers ?? 2, data.length));
    let next = 0;
    let failed: unknown;
    await Promise.all(
      Array.from({ length: nWorkers }, async () => {
        const c = await restoreConnection(options.target, flavor);
        conns.push(c);
        try {
          while (next < data.length && failed === undefined) {
            aborted();
            const o = data[next++] as DumpObject;
            await loadDataObject(c, store, o, id, progress!, signal, loading.has(o.key), packetLimit);
          }
        } catch (error) {
          failed ??= error;
          throw error;
        }
      }),
    );

    const post = todo.filter((x) => x.kind !== 'schema' && x.kind !== 'data');
    if (post.length > 0) {
      await withTrustedFunctionCreators(control, async () => {
        for (const o of post) await runSmall(o);
      });
    }
    aborted();
    // Counted once: a catch-up replay stopped by a deadline has changed the rows since.
    if (!done.has(COUNTED_KEY)) {
      await verifyTableCounts(meta, manifest);
      await meta.p.query(
        `INSERT IGNORE INTO ${CP} (dump_id, object_key, rows_loaded, sha256) VALUES (?, ?, 0, ?)`,
        [id, COUNTED_KEY, id],
      );
    }

    let gtidPosition = '';
    const until = manifest.gtid.replayUntil;
    // An earlier run's catch-up may have been stopped while replicating: the GTID state is set anew.
    if (until && options.setGtid !== false) await meta.p.query(flavor.stopReplica()).catch(() => undefined);
    if (options.setGtid !== false && manifest.gtid.position !== '') {
      for (const s of flavor.setGtidPositionAfterRestore(manifest.gtid.position, manifest.gtid.binlogState)) {
        try {
          await meta.p.query(s.sql, s.values);
        } catch (error) {
          throw new DbError(
            `setting the GTID position failed (${inlineStatement(s)}): ${errorMessage(error)}`,
            {
              cause: error,
            },
          );
        }
      }
      const [g] = await rows(meta, flavor.gtidQuery());
      gtidPosition = flavor.isMariadb ? str(g?.slave_pos) : str(g?.executed).replace(/\s+/g, '');
      if (gtidPosition !== manifest.gtid.position) {
        throw new DbError(
          `the target's GTID position is '${gtidPosition}' after setting '${manifest.gtid.position}'`,
        );
      }
      const state = manifest.gtid.binlogState;
      if (flavor.isMariadb && state && str(g?.binlog_state) !== state) {
        throw new DbError(
          `the target's gtid_binlog_state is '${str(g?.binlog_state)}' after setting '${state}'`,
        );
      }
    }
    let replay: RestoreResult['replay'];
    if (until && options.setGtid !== false) {
      if (options.replaySource) {
        const r = await replayIdempotentlyUntil(meta, flavor, options.replaySource, until, {
          ...(signal ? { signal } : {}),
          ...(options.replayTimeoutMs ? { timeoutMs: options.replayTimeoutMs } : {}),
        });
        gtidPosition = r.position;
        replay = { from: manifest.gtid.position, until, done: true, seconds: r.seconds };
      } else {
        replay = { from: manifest.gtid.position, until, done: false };
        warnings.push(
          `the dump was read over ${manifest.snapshot.sessions ?? 'several'} calls: replicate from ${manifest.gtid.position} with slave_exec_mode=IDEMPOTENT until past ${until} (START SLAVE UNTIL master_gtid_pos = '${until}'), then set it back to STRICT`,
        );
      }
    }
    // Finished: the checkpoint has served its purpose (never replicated: sql_log_bin is off).
    await meta.p.query(`DELETE FROM ${CP} WHERE dump_id = ?`, [id]);
    const summary = progress.finish();
    return {
      url: store.url,
      manifest,
      gtidPosition,
      objectsLoaded: todo.length,
      objectsSkipped: ordered.length - todo.length,
      resumed,
      warnings,
      ...(replay ? { replay } : {}),
      summary,
    };
  } catch (error) {
    progress?.stop();
    // A corrupt or truncated object: nothing of it was committed, the checkpoint keeps what was.
    // The half-restored server must not take writes meanwhile; a rerun from a good copy resumes.
    if (error instanceof DumpIntegrityError && meta && flavor) {
      for (const sql of flavor.setReadOnly(true)) await meta.p.query(sql).catch(() => undefined);
    }
    if (signal?.aborted) {
      throw new DeadlineError(
        `restore into ${describeTarget(options.target)} stopped (${errorMessage(signal.reason)}); run it again to resume`,
        { cause: error },
      );
    }
    if (error instanceof WatchdogError) throw error;
    throw new DbError(`restore into ${describeTarget(options.target)} failed: ${errorMessage(error)}`, {
      cause: error,
    });
  } finally {
    signal?.removeEventListener('abort', onAbort);
    for (const c of conns) await c.close();
  }
}

/**
 * Opens (or creates) the checkpoint and returns the keys of objects already loaded for this dump.
 * A fresh restore refuses a target that already holds the dump's schemas unless `replace` is set.
 */
async function openCheckpoint(
  control: Conn,
  manifest: Manifest,
  id: string,
  replace: boolean,
): Promise<{ done: Set<string>; loading: Set<string>; resumed: boolean }> {
  await control.p.query(`CREATE DATABASE IF NOT EXISTS ${quoteIdent(RESTORE_CHECKPOINT_SCHEMA)}`);
  await control.p.query(
    `CREATE TABLE IF NOT EXISTS ${CP} (
       dump_id CHAR(64) NOT NULL,
       object_key VARCHAR(700) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
       state ENUM('loading','done') NOT NULL DEFAULT 'done',
       rows_loaded BIGINT NOT NULL,
       sha256 CHAR(64) NOT NULL,
       done_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
       PRIMARY KEY (dump_id, object_key)
     ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  );
  // Keys are case-sensitive (tables `T` and `t` are two objects): a checkpoint made before keys were
  // compared in binary is converted.
  const [kc] = await rows(
    control,
    `SELECT COLLATION_NAME AS c FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = 'object_key'`,
    [RESTORE_CHECKPOINT_SCHEMA, RESTORE_CHECKPOINT_TABLE],
  );
  if (str(kc?.c) !== 'utf8mb4_bin') {
    await control.p.query(
      `ALTER TABLE ${CP} MODIFY object_key VARCHAR(700) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL`,
    );
  }
  const cp = await rows(control, `SELECT dump_id, object_key, state FROM ${CP}`);
  const mine = cp.filter((r) => str(r.dump_id) === id);
  const others = cp.filter((r) => str(r.dump_id) !== id);
  if (others.length > 0) {
    if (!replace) {
      throw new SafetyRefusalError(
        'the target holds an unfinished restore of a different dump; finish it, or restore with replace to start over',
        { details: { otherDump: str(others[0]?.dump_id) } },
      );
    }
    await control.p.query(`DELETE FROM ${CP} WHERE dump_id <> ?`, [id]);
  }
  if (mine.some((r) => str(r.object_key) === RUN_KEY)) {
    const keys = (state: string) =>
      new Set(
        mine
          .filter((r) => str(r.state) === state && str(r.object_key) !== RUN_KEY)
          .map((r) => str(r.object_key)),
      );
    return { done: keys('done'), loading: keys('loading'), resumed: true };
  }
  // A fresh run: the target must not already hold the dump's schemas (or the caller said replace). A
  // schema without tables counts too: its default charset and its own routines would stay.
  const existing = manifest.schemas.length
    ? await rows(
        control,
        'SELECT SCHEMA_NAME AS s FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN (?)',
        [manifest.schemas],
      )
    : [];
  if (existing.length > 0) {
    const names = existing.map((r) => str(r.s));
    if (!replace) {
      throw new SafetyRefusalError(
        `the target already has the schema(s) ${names.join(', ')}; restore with replace to overwrite them`,
        { details: { schemas: names } },
      );
    }
  }
  if (replace) {
    for (const s of manifest.schemas) await control.p.query(`DROP DATABASE IF EXISTS ${quoteIdent(s)}`);
  }
  await control.p.query(`INSERT INTO ${CP} (dump_id, object_key, rows_loaded, sha256) VALUES (?, ?, 0, ?)`, [
    id,
    RUN_KEY,
    id,
  ]);
  return { done: new Set(), loading: new Set(), resumed: false };
}

/**
 * Removes what an interrupted or refused load of this object committed, so the object can be loaded
 * again without duplicating a row: its primary-key range for a chunk, the whole table otherwise
 * (DELETE, not TRUNCATE: TRUNCATE would reset AUTO_INCREMENT).
 */
async function clearObjectRows(c: Conn, o: DumpObject): Promise<void> {
  if (o.schema === undefined || o.table === undefined) return;
  const t = `${quoteIdent(o.schema)}.${quoteIdent(o.table)}`;
  await c.p.query(`DELETE FROM ${t}${o.where ? ` WHERE ${o.where}` : ''}`);
  // DELETE on a system-versioned table turns rows into history; the history goes too.
  if (o.versioned) await c.p.query(`DELETE HISTORY FROM ${t}`);
}

/**
 * Streams one data object into the target, in one transaction with its checkpoint row: the SHA-256 of
 * the stored bytes is computed as they stream, and the transaction commits only after it, the size
 * and the row count matched the manifest. A corrupt object (a flipped byte, a replaced file) is
 * rolled back whole, even when the damage made a statement fail first (the rest is still read to tell
 * corruption from a server error). Tables of non-transactional engines cannot roll back: their rows
 * are deleted instead. A 'loading' mark (left by earlier versions, which committed statement by
 * statement) makes a resume clear the object first.
 */
async function loadDataObject(
  c: Conn,
  store: ObjectStore,
  o: DumpObject,
  dumpId: string,
  progress: ProgressTracker,
  signal: AbortSignal | undefined,
  wasLoading: boolean,
  packetLimit: number,
): Promise<void> {
  if (wasLoading) await clearObjectRows(c, o);
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  const body = await store.get(o.key, signal ? { signal } : {});
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  body.on('error', (e) => tap.destroy(e));
  tap.on('error', (e) => gunzip.destroy(e));
  // Read errors reach us through the iteration below; one raised after it stopped has nobody to tell.
  gunzip.on('error', () => undefined);
  body.pipe(tap).pipe(gunzip);
  const splitter = new LineStatementSplitter();
  let inserted = 0;
  let bytes = 0;
  let statementError: unknown;
  const insertPrefix = Buffer.from(
    `INSERT INTO ${quoteIdent(o.schema ?? '')}.${quoteIdent(o.table ?? '')} (`,
    'utf8',
  );
  await c.p.query('START TRANSACTION');
  try {
    const run = async (stmts: Buffer[]) => {
      for (const whole of stmts) {
        if (statementError !== undefined) return;
        bytes += whole.length;
        if (!isDataObjectStatement(whole, insertPrefix)) {
          statementError = new DumpIntegrityError(
            `${o.key} holds a statement a data object of ${o.schema}.${o.table} never has (corrupt or replaced); not run: ${shortSql(whole)}`,
            { details: { key: o.key } },
          );
          return;
        }
        try {
          for (const s of splitInsert(whole, packetLimit)) {
            const n = await exec(c, s);
            inserted += n;
            progress.rows += n;
          }
        } catch (error) {
          statementError =
            error instanceof WatchdogError
              ? error
              : new DbError(`${o.key}: statement failed: ${errorMessage(error)}: ${shortSql(whole)}`, {
                  cause: error,
                });
        }
      }
    };
    try {
      for await (const chunk of gunzip as AsyncIterable<Buffer>) await run(splitter.push(chunk));
    } catch (error) {
      if (error instanceof WatchdogError || signal?.aborted) throw error;
      throw new DumpIntegrityError(
        `${o.key} (${o.schema}.${o.table}) could not be read to the end: ${errorMessage(error)}`,
        { cause: error, details: { key: o.key } },
      );
    }
    const rest = splitter.end();
    // The whole object was read: its digest tells a corrupt object from a server error.
    verifyDigest(o, size, hash.digest('hex'));
    if (statementError !== undefined) throw statementError;
    if (rest.length > 0) {
      throw new DumpIntegrityError(`${o.key} ends in the middle of a statement (truncated)`, {
        details: { key: o.key, tail: shortSql(rest[0] as Buffer) },
      });
    }
    if (inserted !== o.rows) {
      throw new DumpIntegrityError(`${o.key} inserted ${inserted} rows, the manifest says ${o.rows}`, {
        details: { key: o.key, inserted, expected: o.rows },
      });
    }
    await c.p.query(
      `REPLACE INTO ${CP} (dump_id, object_key, state, rows_loaded, sha256) VALUES (?, ?, 'done', ?, ?)`,
      [dumpId, o.key, inserted, o.sha256],
    );
    await c.p.query('COMMIT');
  } catch (error) {
    progress.rows -= inserted;
    body.destroy();
    await c.p.query('ROLLBACK').catch(() => undefined);
    // Rows of a non-transactional table survived the rollback (best effort: a resume clears them too).
    if (!signal?.aborted) await clearObjectRows(c, o).catch(() => undefined);
    throw error;
  }
  progress.objectsDone++;
  progress.bytes += bytes;
  progress.compressedBytes += size;
}

/** Every table holds exactly the rows the manifest lists for it (catches duplicates and losses). */
async function verifyTableCounts(control: Conn, manifest: Manifest): Promise<void> {
  const perTable = new Map<string, { schema: string; table: string; rows: number; versioned: boolean }>();
  for (const o of manifest.objects) {
    if (o.kind !== 'data' || o.schema === undefined || o.table === undefined) continue;
    const k = `${quoteIdent(o.schema)}.${quoteIdent(o.table)}`;
    const e = perTable.get(k) ?? {
      schema: o.schema,
      table: o.table,
      rows: 0,
      versioned: o.versioned === true,
    };
    e.rows += o.rows;
    perTable.set(k, e);
  }
  for (const [k, e] of perTable) {
    const [r] = await rows(
      control,
      `SELECT COUNT(*) AS n FROM ${k}${e.versioned ? ' FOR SYSTEM_TIME ALL' : ''}`,
    );
    const n = Number(str(r?.n));
    if (n !== e.rows) {
      throw new DumpIntegrityError(`${k} holds ${n} rows after the restore; the dump has ${e.rows}`, {
        details: { table: k, rows: n, expected: e.rows },
      });
    }
  }
}
