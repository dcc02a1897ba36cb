import { createHash } from 'node:crypto';
import { PassThrough, Transform } from 'node:stream';
import { createGzip, type Gzip } from 'node:zlib';
import { Flavor } from '../cluster/flavor.js';
import { DbError, DeadlineError, errorMessage, WatchdogError } from '../errors.js';
import type { ObjectStore } from '../storage/object-store.js';
import { type Conn, type ConnectTarget, connect, describeTarget, type Row, rows } from './connection.js';
import { dataObjectHeader, excludedSchemas, TOOL_NAME, TOOL_VERSION } from './layout.js';
import {
  DUMP_FORMAT,
  DUMP_FORMAT_VERSION,
  type DumpObject,
  MANIFEST_KEY,
  type Manifest,
  manifestSchema,
  type ObjectKind,
  objectKey,
} from './manifest.js';
import { type ProgressListener, type ProgressReport, ProgressTracker } from './progress.js';
import { loadVerifiedManifest } from './restore.js';
import {
  type DumpPlan,
  type KeepDecision,
  keepParts,
  putJson,
  RESUME_PREFIX,
  readStoredState,
  resumeKey,
  type SessionRecord,
  type StoredState,
} from './resume-state.js';
import {
  type InsertColumn,
  InsertEncoder,
  planCharsets,
  quoteIdent,
  quoteString,
  valueKindOf,
} from './sql-encode.js';

export interface DumpOptions {
  source: ConnectTarget;
  store: ObjectStore;
  /** Parallel connections reading at the same snapshot (default 2). */
  workers?: number;
  /** Tables with a single integer primary key are split in chunks of about this many rows (default 100,000). */
  chunkRows?: number;
  /** gzip level 1–9 (default 1: the CPU is the bottleneck, not the bytes). */
  compressionLevel?: number;
  /** Upper bound of one multi-row INSERT (default 1 MiB; the target's max_allowed_packet must allow it). */
  maxStatementBytes?: number;
  /** Also dump accounts, roles and grants (the flavor's account tables; every reseed does). */
  includeUsers?: boolean;
  /** Only these schemas (default: every user schema). */
  schemas?: string[];
  /** Schemas to leave out in addition to the system ones and the coordination schema. */
  excludeSchemas?: string[];
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  progressIntervalMs?: number;
  /**
   * Resumable (reseeds and salvage backups): a dump that stops keeps its finished parts and a record
   * of each, and the next call with the same store continues from them (README.md, "Dumps that
   * resume"); a complete dump already there is returned as it is. Without it a dump that stops
   * deletes what it wrote.
   */
  resume?: boolean;
}

export interface DumpResult {
  url: string;
  manifest: Manifest;
  summary: ProgressReport;
  /** Resumable dumps: parts kept from earlier calls, and why stored parts were not kept. */
  resumed?: { partsKept: number; sessions: number; discarded?: string };
}

interface TableInfo {
  schema: string;
  name: string;
  type: 'BASE TABLE' | 'SEQUENCE';
  /**
   * System-versioned with ROW START/END timestamps: rows are read `FOR SYSTEM_TIME ALL` with both
   * period columns, and inserted with `system_versioning_insert_history`, so the history comes along.
   */
  versioned: boolean;
  engine: string;
  estimatedRows: number;
  columns: InsertColumn[];
  /** SET NAMES of the table's data objects. */
  charset: string;
  raw: { name: string; kind: ReturnType<typeof valueKindOf>; charset: string | null; expr: string }[];
  /** What the SELECT reads for each column (same order as `columns`). */
  selectList: string[];
  /** All columns, for the SELECT list (generated ones excluded from both). */
  pk: { name: string; dataType: string }[];
}

interface DataTask {
  table: TableInfo;
  chunk: number;
  where: string | null;
  key: string;
  /** Read at the earliest position of a resumed dump (firstSessionTables). */
  firstSession?: boolean;
}

const INTEGER_TYPES = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint']);
const TRANSACTIONAL_ENGINES = new Set(['innodb', 'xtradb', 'rocksdb', 'tokudb']);

function str(v: unknown): string {
  if (v === null || v === undefined) return '';
  return Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
}

function col(row: Row, name: string): string {
  // information_schema column names come back in the server's case; look them up case-insensitively.
  if (name in row) return str(row[name]);
  const k = Object.keys(row).find((x) => x.toLowerCase() === name.toLowerCase());
  return k === undefined ? '' : str(row[k]);
}

function aborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new DeadlineError('dump aborted before completion', { cause: signal.reason });
  }
}

/** One gzipped object being written: SQL in, gzip + SHA-256 + byte counts, streamed to the store. */
class ObjectWriter {
  readonly gzip: Gzip;
  private readonly hash = createHash('sha256');
  compressedBytes = 0;
  bytes = 0;
  private readonly done: Promise<unknown>;
  /** Settles when the upload fails (a store outage): whoever feeds the writer stops waiting for 'drain'. */
  readonly failure: Promise<Error>;

  constructor(
    store: ObjectStore,
    readonly key: string,
    level: number,
    signal?: AbortSignal,
  ) {
    this.gzip = createGzip({ level, chunkSize: 256 * 1024 });
    const tap = new Transform({
      readableHighWaterMark: 1 << 20,
      writableHighWaterMark: 1 << 20,
      transform: (chunk: Buffer, _enc, cb) => {
        this.hash.update(chunk);
        this.compressedBytes += chunk.length;
        cb(null, chunk);
      },
    });
    this.gzip.on('error', (e) => tap.destroy(e));
    // The upload reports the tap's failure (its promise rejects); a store that gave up on the body
    // (an outage) no longer listens, and the error must not be thrown at the process.
    tap.on('error', () => undefined);
    this.gzip.pipe(tap);
    this.done = store.put(key, tap, { contentType: 'application/gzip', ...(signal ? { signal } : {}) });
    // Rejections are awaited in finish(); keep an early failure from being unhandled meanwhile.
    this.failure = this.done.then(
      () => new Promise<Error>(() => undefined),
      (error: unknown) => {
        const e = error instanceof Error ? error : new Error(String(error));
        this.gzip.destroy(e);
        return e;
      },
    );
  }

  /** `consumed` runs once gzip is done with `buf` (it may then be reused). */
  write(buf: Buffer, consumed?: () => void): boolean {
    this.bytes += buf.length;
    return consumed
      ? this.gzip.write(buf, (error) => {
          if (!error) consumed();
        })
      : this.gzip.write(buf);
  }

  async finish(): Promise<{ sha256: string; compressedBytes: number; bytes: number }> {
    this.gzip.end();
    await this.done;
    return { sha256: this.hash.digest('hex'), compressedBytes: this.compressedBytes, bytes: this.bytes };
  }

  destroy(error: Error): void {
    this.gzip.destroy(error);
  }
}

async function writeSmallObject(
  store: ObjectStore,
  key: string,
  text: string | Buffer,
  level: number,
  signal?: AbortSignal,
): Promise<{ bytes: number; compressedBytes: number; sha256: string }> {
  const w = new ObjectWriter(store, key, level, signal);
  w.write(typeof text === 'string' ? Buffer.from(text, 'utf8') : text);
  return w.finish();
}

/**
 * Dumps every user schema of a server to object storage: a consistent snapshot read by several
 * connections at once, its exact GTID position, streamed as gzipped SQL objects, then manifest.json.
 */
export async function dumpDatabase(options: DumpOptions): Promise<DumpResult> {
  const workersWanted = Math.max(1, options.workers ?? 2);
  const chunkRows = Math.max(1, options.chunkRows ?? 100_000);
  const level = options.compressionLevel ?? 1;
  const maxStmt = options.maxStatementBytes ?? 1 << 20;
  const { store, signal } = options;
  const resumable = options.resume === true;
  const created = new Date().toISOString();
  aborted(signal);
  if (resumable && (await store.head(MANIFEST_KEY))) {
    // An earlier call finished (and was stopped before it could report): the dump is there.
    const { manifest } = await loadVerifiedManifest(store);
    const summary = new ProgressTracker(
      'dump',
      manifest.objects.length,
      manifest.totals.rows,
      undefined,
    ).finish();
    return { url: store.url, manifest, summary, resumed: { partsKept: 0, sessions: 0 } };
  }

  const control = await connect(options.source, { charset: 'utf8mb4' });
  const workers: Conn[] = [];
  const onAbort = () => {
    for (const w of workers) w.destroy();
    control.destroy();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  const written: string[] = [];
  let progress: ProgressTracker | undefined;
  try {
    const [info] = await rows(
      control,
      'SELECT @@version AS version, @@version_comment AS comment, @@server_id AS server_id, @@hostname AS hostname',
    );
    const flavor = Flavor.detect(col(info ?? {}, 'version'), col(info ?? {}, 'comment'));
    await control.p.query("SET SESSION time_zone = '+00:00'");

    // ---- what to dump
    const exclude = excludedSchemas(options.excludeSchemas);
    const schemaRows = await rows(
      control,
      `SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN (?) ORDER BY SCHEMA_NAME`,
      [exclude],
    );
    let schemas = schemaRows.map((r) => col(r, 'name'));
    if (options.schemas) schemas = schemas.filter((s) => options.schemas?.includes(s));
    const tables = schemas.length ? await loadTables(control, schemas) : [];

    // A resumable dump cuts its parts once (the plan) and every later call reads the same ranges.
    let state: StoredState | undefined;
    let tasks: DataTask[] | null = null;
    if (resumable) {
      state = await readStoredState(store);
      tasks = state.plan ? tasksFromPlan(state.plan, tables) : null;
    }
    if (!tasks) {
      const first = schemas.length ? await firstSessionTables(control, schemas) : new Set<string>();
      tasks = [];
      for (const t of tables) {
        if (t.type !== 'BASE TABLE') continue;
        const isFirst =
          first.has(tableId(t.schema, t.name)) || !TRANSACTIONAL_ENGINES.has(t.engine.toLowerCase());
        for (const c of await planChunks(control, t, chunkRows)) tasks.push({ ...c, firstSession: isFirst });
      }
      if (resumable) {
        // A new plan: whatever an earlier plan stored is of no use (the tables changed).
        await Promise.all((await store.list('')).map((o) => store.delete(o.key)));
        state = { plan: planOf(tables, tasks), sessions: [], parts: [] };
        await putJson(store, resumeKey.plan(), state.plan, signal);
      }
    }
    const [fmt] = await rows(
      control,
      'SELECT @@global.log_bin AS logBin, @@global.binlog_format AS format, @@global.binlog_row_image AS image',
    );
    const rowBinlog =
      col(fmt ?? {}, 'logBin') === '1' &&
      col(fmt ?? {}, 'format').toUpperCase() === 'ROW' &&
      col(fmt ?? {}, 'image').toUpperCase() === 'FULL';

    progress = new ProgressTracker(
      'dump',
      tasks.length,
      tables.reduce((a, t) => a + t.estimatedRows, 0),
      options.onProgress,
      options.progressIntervalMs,
    );
    const objects: DumpObject[] = [];
    let session: SessionRecord | undefined;
    let keep: KeepDecision = { kept: [] };
    const keptKeys = new Set<string>();
    // Called once the snapshot's position is known (under the read lock: pure, no I/O): which stored
    // parts this session builds on. recordSession stores it, after the lock is released.
    const openSession = (position: Manifest['gtid']): void => {
      if (!resumable || !state) return;
      session = {
        session: Math.max(-1, ...state.sessions.map((x) => x.session)) + 1,
        started: created,
        serverId: Number(col(info ?? {}, 'server_id')),
        flavor: flavor.isMariadb ? 'mariadb' : 'mysql',
        gtid: position,
        rowBinlog,
      };
      keep = keepParts(state, session);
      for (const p of keep.kept) {
        keptKeys.add(p.object.key);
        objects.push(p.object);
        progress!.objectsDone++;
        progress!.rows += p.object.rows;
        progress!.compressedBytes += p.object.compressedBytes;
      }
    };
    const recordSession = async (): Promise<void> => {
      if (!session || !state) return;
      if (keep.discarded) {
        // (not the records of parts this session already read under the lock)
        const gone = state.parts.filter(
          (p) => !keptKeys.has(p.object.key) && !written.includes(p.object.key),
        );
        await Promise.all(gone.map((p) => store.delete(resumeKey.part(p.object.key))));
      }
      await putJson(store, resumeKey.session(session.session), session, signal);
    };
    // Parts that must be read at the earliest position go first; then the largest first (the long
    // tail of a parallel dump is its biggest table).
    const nonTx = tasks.filter((t) => !TRANSACTIONAL_ENGINES.has(t.table.engine.toLowerCase()));
    const all = tasks;
    const txTasks = tasks
      .filter((t) => TRANSACTIONAL_ENGINES.has(t.table.engine.toLowerCase()))
      .sort(
        (a, b) =>
          Number(b.firstSession) - Number(a.firstSession) ||
          b.table.estimatedRows / tasksOf(all, b) - a.table.estimatedRows / tasksOf(all, a),
      );

    // ---- the snapshot
    for (let i = 0; i < workersWanted; i++) {
      const w = await connect(options.source, { charset: 'utf8mb4' });
      workers.push(w);
      await w.p.query("SET SESSION time_zone = '+00:00'");
      await w.p.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      // A worker paused by backpressure (a slow upload) must not be cut off by the server.
      await w.p.query('SET SESSION net_write_timeout = 3600');
      // Values exactly as stored: no conversion to a client character set on the way out (queries
      // themselves stay utf8mb4, for identifiers).
      await w.p.query('SET SESSION character_set_results = binary');
    }
    aborted(signal);
    let snapshotMethod = 'ftwrl';
    let gtid: Manifest['gtid'];
    try {
      // FTWRL waits for every running statement's metadata locks for lock_wait_timeout (a year by
      // default): one long statement on the source would stall the dump, and every write queued
      // behind the pending lock with it. Bounded, the lock fails instead (MariaDB then takes its
      // binlog-consistent snapshot; MySQL fails the dump, retried by the next run).
      const bound = flavor.boundLockWait(10);
      await control.p.query(bound.sql, bound.values);
      await control.p.query('FLUSH TABLES WITH READ LOCK');
    } catch (error) {
      snapshotMethod = 'binlog_snapshot';
      if (!flavor.isMariadb) {
        throw new DbError(
          'FLUSH TABLES WITH READ LOCK refused; a consistent dump needs the RELOAD privilege',
          {
            cause: error,
          },
        );
      }
    }
    if (snapshotMethod === 'ftwrl') {
      try {
        for (const w of workers) await w.p.query('START TRANSACTION WITH CONSISTENT SNAPSHOT');
        gtid = await readGtid(control, flavor);
        openSession(gtid);
        // Non-transactional tables are only consistent while nobody can write: dump them under the lock.
        for (const t of nonTx) if (!keptKeys.has(t.key)) await dumpChunk(t, workers[0] as Conn);
      } finally {
        await control.p.query('UNLOCK TABLES');
      }
      await recordSession();
    } else {
      // MariaDB without RELOAD: one connection, with the binlog position InnoDB recorded for its snapshot.
      for (const w of workers.splice(1)) await w.close();
      const w0 = workers[0] as Conn;
      await w0.p.query('START TRANSACTION WITH CONSISTENT SNAPSHOT');
      const st = await rows(w0, "SHOW STATUS LIKE 'binlog_snapshot_%'");
      const file = st.find((r) => col(r, 'Variable_name').toLowerCase() === 'binlog_snapshot_file');
      const pos = st.find((r) => col(r, 'Variable_name').toLowerCase() === 'binlog_snapshot_position');
      const [g] = await rows(w0, 'SELECT BINLOG_GTID_POS(?, ?) AS pos', [
        col(file ?? {}, 'Value'),
        Number(col(pos ?? {}, 'Value')),
      ]);
      const position = col(g ?? {}, 'pos');
      gtid = { position, binlogPos: position };
      openSession(gtid);
      await recordSession();
      for (const t of nonTx) if (!keptKeys.has(t.key)) await dumpChunk(t, w0);
    }
    if (!gtid) throw new DbError('could not read the GTID position of the snapshot');

    // ---- data, in parallel, each worker in its own snapshot transaction
    const todo = txTasks.filter((t) => !keptKeys.has(t.key));
    let next = 0;
    await Promise.all(
      workers.map(async (w) => {
        while (next < todo.length) {
          aborted(signal);
          const task = todo[next++] as DataTask;
          await dumpChunk(task, w);
        }
      }),
    );
    for (const w of workers) await w.p.query('COMMIT').catch(() => undefined);

    // ---- schema and the objects that depend on data (SHOW CREATE is not transactional: read after)
    aborted(signal);
    for (const s of schemas) {
      const text = await schemaObjectSql(
        control,
        s,
        tables.filter((t) => t.schema === s),
      );
      await addSmall('schema', objectKey.schema(s), text, { schema: s });
      const tablesText = await tablesObjectSql(
        control,
        s,
        tables.filter((t) => t.schema === s),
      );
      if (tablesText) await addSmall('schema', objectKey.tables(s), tablesText, { schema: s });
    }
    if (options.includeUsers) {
      const text = await accountsSql(control, flavor);
      await addSmall('users', objectKey.users(), text, {});
    }
    for (const s of schemas) {
      const r = await routinesSql(control, s);
      if (r) await addSmall('routines', objectKey.routines(s), r, { schema: s });
    }
    const views = await viewsSql(control, schemas);
    if (views) await addSmall('views', objectKey.views(), views, {});
    for (const s of schemas) {
      const t = await triggersSql(control, s);
      if (t) await addSmall('triggers', objectKey.triggers(s), t, { schema: s });
      const e = await eventsSql(control, s);
      if (e) await addSmall('events', objectKey.events(s), e, { schema: s });
    }
    aborted(signal);

    const dataObjects = objects.filter((o) => o.kind === 'data');
    // Parts read by several sessions: the dump stands at the earliest position, and replication
    // replays idempotently until past the latest (README.md, "Dumps that resume").
    const sessionsUsed = [
      ...new Set([...keep.kept.map((p) => p.session), ...(session ? [session.session] : [])]),
    ];
    const earliest = keep.kept.length ? Math.min(...sessionsUsed) : session?.session;
    const earliestGtid = state?.sessions.find((x) => x.session === earliest)?.gtid;
    if (session && earliestGtid && earliestGtid.position !== gtid.position) {
      gtid = { ...earliestGtid, replayUntil: gtid.position };
    }
    const manifest: Manifest = {
      format: DUMP_FORMAT,
      formatVersion: DUMP_FORMAT_VERSION,
      tool: { name: TOOL_NAME, version: TOOL_VERSION },
      created,
      finished: new Date().toISOString(),
      source: {
        host: describeTarget(options.source).split(':')[0] ?? '',
        port: options.source.port ?? 3306,
        serverId: Number(col(info ?? {}, 'server_id')),
        hostname: col(info ?? {}, 'hostname'),
        flavor: flavor.isMariadb ? 'mariadb' : 'mysql',
        version: col(info ?? {}, 'version'),
      },
      gtid,
      snapshot: {
        method: snapshotMethod,
        workers: workers.length,
        ...(session ? { sessions: sessionsUsed.length } : {}),
      },
      schemas,
      options: { users: options.includeUsers === true, compressionLevel: level, chunkRows },
      objects: [...objects].sort((a, b) => (a.key < b.key ? -1 : 1)),
      totals: {
        rows: dataObjects.reduce((a, o) => a + o.rows, 0),
        bytes: objects.reduce((a, o) => a + o.bytes, 0),
        compressedBytes: objects.reduce((a, o) => a + o.compressedBytes, 0),
      },
    };
    manifestSchema.parse(manifest);
    const body = new PassThrough();
    body.end(Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`, 'utf8'));
    await store.put(MANIFEST_KEY, body, { contentType: 'application/json', ...(signal ? { signal } : {}) });
    const summary = progress.finish();
    if (resumable) {
      // The manifest marks the dump complete: the records that let it resume are of no further use.
      const records = (await store.list(RESUME_PREFIX)).map((o) => o.key);
      await Promise.all(records.map((k) => store.delete(k).catch(() => undefined)));
    }
    return {
      url: store.url,
      manifest,
      summary,
      ...(resumable
        ? {
            resumed: {
              partsKept: keep.kept.length,
              sessions: sessionsUsed.length,
              ...(keep.discarded ? { discarded: keep.discarded } : {}),
            },
          }
        : {}),
    };

    // ---- helpers closing over the run
    async function dumpChunk(task: DataTask, w: Conn): Promise<void> {
      const obj = await dumpTableChunk(task, w, store, level, maxStmt, progress, signal);
      written.push(obj.key);
      objects.push(obj);
      if (session)
        await putJson(store, resumeKey.part(obj.key), { session: session.session, object: obj }, signal);
      if (progress) {
        progress.objectsDone++;
        progress.compressedBytes += obj.compressedBytes;
      }
    }
    async function addSmall(
      kind: ObjectKind,
      key: string,
      text: string | Buffer,
      where: { schema?: string },
    ): Promise<void> {
      written.push(key);
      const r = await writeSmallObject(store, key, text, level, signal);
      objects.push({ key, kind, ...where, rows: 0, ...r });
    }
  } catch (error) {
    progress?.stop();
    // A worker stopped in the middle of a result set cannot be closed politely.
    for (const w of workers.splice(0)) w.destroy();
    // A dump without its manifest is incomplete by definition; remove what we wrote (best effort),
    // unless it resumes: then the finished parts and their records stay for the next call.
    if (!resumable) await Promise.all(written.map((k) => store.delete(k).catch(() => undefined)));
    if (signal?.aborted) {
      throw new DeadlineError(
        `dump of ${describeTarget(options.source)} stopped: ${errorMessage(signal.reason)}`,
        {
          cause: error,
        },
      );
    }
    if (error instanceof WatchdogError) throw error;
    throw new DbError(`dump of ${describeTarget(options.source)} failed: ${errorMessage(error)}`, {
      cause: error,
    });
  } finally {
    signal?.removeEventListener('abort', onAbort);
    for (const w of workers) await w.close();
    await control.close();
  }
}

const tableId = (schema: string, name: string) => `${schema}\u0000${name}`;

/**
 * Tables whose parts a resumed dump reads at its earliest position only: replaying row events
 * idempotently over rows read later is exact only by primary key (README.md). Without a primary key
 * a replayed insert duplicates a row; a second unique key can make a replayed insert delete another
 * row; foreign keys (cascades are not in the binary log) tie a table to others read at other moments.
 * Non-transactional tables are read under the lock at the snapshot anyway.
 */
async function firstSessionTables(control: Conn, schemas: string[]): Promise<Set<string>> {
  const out = new Set<string>();
  const withPk = await rows(
    control,
    `SELECT TABLE_SCHEMA AS s, TABLE_NAME AS n, SUM(CONSTRAINT_TYPE = 'PRIMARY KEY') AS pk,
            SUM(CONSTRAINT_TYPE IN ('UNIQUE', 'FOREIGN KEY')) AS other
       FROM information_schema.TABLE_CONSTRAINTS WHERE TABLE_SCHEMA IN (?) GROUP BY TABLE_SCHEMA, TABLE_NAME`,
    [schemas],
  );
  const all = await rows(
    control,
    `SELECT TABLE_SCHEMA AS s, TABLE_NAME AS n FROM information_schema.TABLES
      WHERE TABLE_SCHEMA IN (?) AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')`,
    [schemas],
  );
  const good = new Set(
    withPk
      .filter((r) => Number(col(r, 'pk')) > 0 && Number(col(r, 'other')) === 0)
      .map((r) => tableId(col(r, 's'), col(r, 'n'))),
  );
  for (const r of all)
    if (!good.has(tableId(col(r, 's'), col(r, 'n')))) out.add(tableId(col(r, 's'), col(r, 'n')));
  // Tables other tables' foreign keys point at.
  const referenced = await rows(
    control,
    `SELECT UNIQUE_CONSTRAINT_SCHEMA AS s, REFERENCED_TABLE_NAME AS n FROM information_schema.REFERENTIAL_CONSTRAINTS
      WHERE CONSTRAINT_SCHEMA IN (?)`,
    [schemas],
  );
  for (const r of referenced) out.add(tableId(col(r, 's'), col(r, 'n')));
  return out;
}

/** The plan a resumable dump stores: the tables it was cut for and every part. */
function planOf(tables: TableInfo[], tasks: DataTask[]): DumpPlan {
  return {
    tables: tables
      .filter((t) => t.type === 'BASE TABLE')
      .map((t) => ({ schema: t.schema, name: t.name, columns: t.selectList })),
    parts: tasks.map((t) => ({
      key: t.key,
      schema: t.table.schema,
      table: t.table.name,
      chunk: t.chunk,
      where: t.where,
      firstSession: t.firstSession === true,
    })),
  };
}

/** The stored plan's parts for the tables as they are now; null when the tables changed since. */
function tasksFromPlan(plan: DumpPlan, tables: TableInfo[]): DataTask[] | null {
  const base = tables.filter((t) => t.type === 'BASE TABLE');
  const byId = new Map(base.map((t) => [tableId(t.schema, t.name), t]));
  if (plan.tables.length !== base.length) return null;
  for (const p of plan.tables) {
    const t = byId.get(tableId(p.schema, p.name));
    if (!t || t.selectList.join('\u0000') !== p.columns.join('\u0000')) return null;
  }
  return plan.parts.map((p) => ({
    table: byId.get(tableId(p.schema, p.table)) as TableInfo,
    chunk: p.chunk,
    where: p.where,
    key: p.key,
    firstSession: p.firstSession,
  }));
}

function tasksOf(all: DataTask[], t: DataTask): number {
  let n = 0;
  for (const x of all) if (x.table === t.table) n++;
  return n;
}

async function readGtid(control: Conn, flavor: Flavor): Promise<Manifest['gtid']> {
  const [g] = await rows(control, flavor.gtidQuery());
  if (flavor.isMariadb) {
    const binlogPos = col(g ?? {}, 'binlog_pos');
    const currentPos = col(g ?? {}, 'current_pos');
    const slavePos = col(g ?? {}, 'slave_pos');
    const binlogState = col(g ?? {}, 'binlog_state');
    // What this server's data contains: its binlog (log_slave_updates on) or, on a replica that does
    // not log replicated events, its current position.
    if (binlogPos === '') return { position: currentPos, binlogPos, currentPos, slavePos };
    return { position: binlogPos, binlogPos, currentPos, slavePos, ...(binlogState ? { binlogState } : {}) };
  }
  const executed = col(g ?? {}, 'executed').replace(/\s+/g, '');
  return { position: executed, executed };
}

async function loadTables(control: Conn, schemas: string[]): Promise<TableInfo[]> {
  const t = await rows(
    control,
    `SELECT TABLE_SCHEMA AS s, TABLE_NAME AS n, TABLE_TYPE AS type, ENGINE AS engine, TABLE_ROWS AS est
       FROM information_schema.TABLES
      WHERE TABLE_SCHEMA IN (?) AND TABLE_TYPE IN ('BASE TABLE', 'SEQUENCE', 'SYSTEM VERSIONED')
      ORDER BY TABLE_SCHEMA, TABLE_NAME`,
    [schemas],
  );
  const c = await rows(
    control,
    `SELECT TABLE_SCHEMA AS s, TABLE_NAME AS n, COLUMN_NAME AS c, DATA_TYPE AS dt, COLUMN_TYPE AS ct,
            GENERATION_EXPRESSION AS gen, EXTRA AS extra, CHARACTER_SET_NAME AS cs
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA IN (?)
      ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION`,
    [schemas],
  );
  const k = await rows(
    control,
    `SELECT k.TABLE_SCHEMA AS s, k.TABLE_NAME AS n, k.COLUMN_NAME AS c, col.DATA_TYPE AS dt
       FROM information_schema.KEY_COLUMN_USAGE k
       JOIN information_schema.COLUMNS col
         ON col.TABLE_SCHEMA = k.TABLE_SCHEMA AND col.TABLE_NAME = k.TABLE_NAME AND col.COLUMN_NAME = k.COLUMN_NAME
      WHERE k.TABLE_SCHEMA IN (?) AND k.CONSTRAINT_NAME = 'PRIMARY'
      ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, k.ORDINAL_POSITION`,
    [schemas],
  );
  const byTable = new Map<string, TableInfo>();
  const id = (s: string, n: string) => `${s}\u0000${n}`;
  for (const r of t) {
    byTable.set(id(col(r, 's'), col(r, 'n')), {
      schema: col(r, 's'),
      name: col(r, 'n'),
      type: col(r, 'type') === 'SEQUENCE' ? 'SEQUENCE' : 'BASE TABLE',
      versioned: col(r, 'type') === 'SYSTEM VERSIONED',
      engine: col(r, 'engine'),
      estimatedRows: Number(col(r, 'est')) || 0,
      columns: [],
      charset: 'utf8mb4',
      raw: [],
      selectList: [],
      pk: [],
    });
  }
  // A versioned table's period columns: named in SHOW CREATE TABLE (information_schema shows explicit
  // ones as generated columns and implicit row_start/row_end not at all).
  const periods = new Map<TableInfo, { start: string; end: string; trxId: boolean }>();
  for (const tbl of byTable.values()) {
    if (!tbl.versioned) continue;
    const [c] = await rows(control, `SHOW CREATE TABLE ${quoteIdent(tbl.schema)}.${quoteIdent(tbl.name)}`);
    periods.set(tbl, versioningColumns(col(c ?? {}, 'Create Table')));
  }
  for (const r of c) {
    const tbl = byTable.get(id(col(r, 's'), col(r, 'n')));
    if (!tbl) continue;
    const extra = col(r, 'extra').toUpperCase();
    const period = periods.get(tbl);
    const name = col(r, 'c');
    if (period && !period.trxId && (name === period.start || name === period.end)) continue; // added below
    // Generated columns keep their definition in CREATE TABLE; their values are computed, not inserted.
    // (MySQL marks expression defaults DEFAULT_GENERATED: those are ordinary columns.)
    const generated = col(r, 'gen') !== '' || /\b(VIRTUAL|STORED|PERSISTENT) GENERATED\b/.test(extra);
    // System-versioning columns (ROW START/END) are maintained by the server.
    if (generated || /ROW (START|END)/.test(extra)) continue;
    tbl.raw.push(columnRead(name, col(r, 'dt'), col(r, 'ct'), col(r, 'cs') || null));
  }
  for (const [tbl, period] of periods) {
    // Transaction-id periods (BIGINT) cannot be inserted; such a table keeps its current rows only.
    if (period.trxId) {
      tbl.versioned = false;
      continue;
    }
    for (const p of [period.start, period.end])
      tbl.raw.push({ name: p, kind: 'string', charset: null, expr: quoteIdent(p) });
  }
  for (const tbl of byTable.values()) {
    tbl.selectList = tbl.raw.map((c) => c.expr);
    const plan = planCharsets([tbl.schema, tbl.name, ...tbl.raw.map((c) => c.name)], tbl.raw);
    tbl.charset = plan.charset;
    tbl.columns = plan.columns;
  }
  for (const r of k)
    byTable.get(id(col(r, 's'), col(r, 'n')))?.pk.push({ name: col(r, 'c'), dataType: col(r, 'dt') });
  return [...byTable.values()];
}

/**
 * How one column is read and written. FLOAT goes through DOUBLE: the text protocol prints a FLOAT with
 * 6 significant digits (16777216 -> 16777200), a DOUBLE with as many as it takes to read back the same
 * value. An ENUM or SET that has an empty member is read by its index: as text, the member '' and the
 * error value (ENUM) or the empty set (SET) look the same.
 */
export function columnRead(
  name: string,
  dataType: string,
  columnType: string,
  charset: string | null,
): { name: string; kind: ReturnType<typeof valueKindOf>; charset: string | null; expr: string } {
  const q = quoteIdent(name);
  const dt = dataType.toLowerCase();
  if (dt === 'float') return { name, kind: 'number', charset: null, expr: `CAST(${q} AS DOUBLE)` };
  if ((dt === 'enum' || dt === 'set') && /[(,]''[,)]/.test(columnType))
    return { name, kind: 'number', charset: null, expr: `${q} + 0` };
  return { name, kind: valueKindOf(dataType, columnType), charset, expr: q };
}

/** The ROW START / ROW END columns of a system-versioned table, from its SHOW CREATE TABLE. */
export function versioningColumns(create: string): { start: string; end: string; trxId: boolean } {
  const find = (which: 'START' | 'END') => {
    const m = new RegExp(
      `^\\s*\`((?:[^\`]|\`\`)+)\`\\s+(\\w+)[^\\n]*GENERATED ALWAYS AS ROW ${which}`,
      'm',
    ).exec(create);
    return m ? { name: (m[1] as string).replace(/``/g, '`'), type: (m[2] as string).toLowerCase() } : null;
  };
  const start = find('START');
  const end = find('END');
  if (!start || !end) return { start: 'row_start', end: 'row_end', trxId: false };
  return { start: start.name, end: end.name, trxId: start.type === 'bigint' };
}

/** Splits a table with a single integer primary key into ranges of about `chunkRows` rows. */
async function planChunks(control: Conn, t: TableInfo, chunkRows: number): Promise<DataTask[]> {
  const whole: DataTask[] = [{ table: t, chunk: 0, where: null, key: objectKey.data(t.schema, t.name, 0) }];
  const pk = t.pk[0];
  if (t.pk.length !== 1 || !pk || !INTEGER_TYPES.has(pk.dataType.toLowerCase())) return whole;
  if (t.estimatedRows < chunkRows * 1.5) return whole;
  const q = quoteIdent(pk.name);
  const [mm] = await rows(
    control,
    `SELECT MIN(${q}) AS lo, MAX(${q}) AS hi FROM ${quoteIdent(t.schema)}.${quoteIdent(t.name)}`,
  );
  if (!mm || mm.lo === null || mm.hi === null) return whole;
  const lo = BigInt(str(mm.lo));
  const hi = BigInt(str(mm.hi));
  const n = BigInt(Math.ceil(t.estimatedRows / chunkRows));
  const step = (hi - lo + 1n + n - 1n) / n;
  if (n < 2n || step < 1n) return whole;
  const bounds: bigint[] = [];
  for (let i = 1n; i < n; i++) bounds.push(lo + step * i);
  const out: DataTask[] = [];
  for (let i = 0; i <= bounds.length; i++) {
    const from = i === 0 ? null : bounds[i - 1];
    const to = i === bounds.length ? null : bounds[i];
    // Open ends: rows inserted below the minimum or above the maximum before the snapshot are kept.
    const where = [
      from !== null && from !== undefined ? `${q} >= ${from}` : '',
      to !== null && to !== undefined ? `${q} < ${to}` : '',
    ]
      .filter(Boolean)
      .join(' AND ');
    out.push({ table: t, chunk: i, where, key: objectKey.data(t.schema, t.name, i) });
  }
  return out;
}

async function dumpTableChunk(
  task: DataTask,
  w: Conn,
  store: ObjectStore,
  level: number,
  maxStmt: number,
  progress: ProgressTracker | undefined,
  signal: AbortSignal | undefined,
): Promise<DumpObject> {
  const t = task.table;
  const writer = new ObjectWriter(store, task.key, level, signal);
  // A comment ends at a newline: keep odd identifiers from breaking out of it.
  const title = `${quoteIdent(t.schema)}.${quoteIdent(t.name)}, chunk ${task.chunk}${task.where ? ` (${task.where})` : ''}`;
  const head = `-- ${TOOL_NAME} dump: data of ${title.replace(/[\r\n]/g, ' ')}\n${dataObjectHeader(t.charset, t.versioned)}\n`;
  writer.write(Buffer.from(head, 'utf8'));
  const raw = w.raw;
  let paused = false;
  const resume = () => {
    paused = false;
    raw.resume();
  };
  const encoder = new InsertEncoder(
    t.schema,
    t.name,
    t.columns,
    (stmt) => {
      if (progress) progress.bytes += stmt.length;
      return writer.write(stmt, () => encoder.recycle(stmt));
    },
    maxStmt,
  );
  if (t.columns.length > 0) {
    const select =
      `SELECT ${t.selectList.join(',')} FROM ${quoteIdent(t.schema)}.${quoteIdent(t.name)}` +
      (t.versioned ? ' FOR SYSTEM_TIME ALL' : '') +
      (task.where ? ` WHERE ${task.where}` : '');
    try {
      await new Promise<void>((resolve, reject) => {
        const q = raw.query({ sql: select, rowsAsArray: true, typeCast: false });
        q.on('result', (row) => {
          if (progress) progress.rows++;
          // Backpressure: gzip and the upload are behind, so stop reading from the socket until they drain.
          if (!encoder.row(row as unknown as (Buffer | null)[]) && !paused) {
            paused = true;
            raw.pause();
            writer.gzip.once('drain', resume);
          }
        });
        q.on('error', reject);
        q.on('end', () => resolve());
        // The upload failed: the rows would wait for a 'drain' that never comes.
        void writer.failure.then(reject);
      });
    } catch (error) {
      writer.destroy(error as Error);
      await writer.finish().catch(() => undefined);
      throw new DbError(`reading ${t.schema}.${t.name} failed: ${errorMessage(error)}`, { cause: error });
    }
    encoder.flush();
  }
  writer.write(Buffer.from(`-- rows: ${encoder.rows}\n`, 'utf8'));
  const r = await writer.finish();
  return {
    key: task.key,
    kind: 'data',
    schema: t.schema,
    table: t.name,
    chunk: task.chunk,
    ...(t.versioned ? { versioned: true } : {}),
    ...(task.where ? { where: task.where } : {}),
    rows: encoder.rows,
    ...r,
  };
}

// ------------------------------------------------------------------ schema objects (SQL text)

function header(what: string): string {
  return `-- ${TOOL_NAME} dump: ${what}\n/*!40101 SET NAMES utf8mb4*/;\n/*!40014 SET FOREIGN_KEY_CHECKS=0*/;\n`;
}

/**
 * The database, its sequences (with their options and next value) and its tables. Sequences of every
 * schema are created before any table (`00-schema/`, then `01-tables/`): a column's `DEFAULT
 * NEXTVAL(seq)` needs its sequence to exist, whatever the names' order.
 */
async function schemaObjectSql(control: Conn, schema: string, tables: TableInfo[]): Promise<string> {
  const qs = quoteIdent(schema);
  const [db] = await rows(control, `SHOW CREATE DATABASE ${qs}`);
  const createDb = col(db ?? {}, 'Create Database').replace(
    /^CREATE DATABASE (?!IF NOT EXISTS)/i,
    'CREATE DATABASE IF NOT EXISTS ',
  );
  let out = header(`schema ${qs}`);
  out += "/*!40101 SET SQL_MODE='NO_AUTO_VALUE_ON_ZERO'*/;\n";
  out += `${createDb};\nUSE ${qs};\n`;
  for (const t of tables) {
    if (t.type !== 'SEQUENCE') continue;
    const qt = quoteIdent(t.name);
    // SHOW CREATE SEQUENCE has the options (start, min/max, increment, cache, cycle); the table's one
    // row has where it stands: the next value not yet handed to a cache, and the cycles done.
    const [c] = await rows(control, `SHOW CREATE SEQUENCE ${qs}.${qt}`);
    const create = col(c ?? {}, 'Create Table');
    const [v] = await rows(control, `SELECT next_not_cached_value AS v, cycle_count AS r FROM ${qs}.${qt}`);
    out += `DROP SEQUENCE IF EXISTS ${qt};\n${create};\nDO SETVAL(${qt}, ${str(v?.v)}, 0, ${str(v?.r) || '0'});\n`;
  }
  return out;
}

async function tablesObjectSql(control: Conn, schema: string, tables: TableInfo[]): Promise<string | null> {
  const qs = quoteIdent(schema);
  const list = tables.filter((t) => t.type !== 'SEQUENCE');
  if (list.length === 0) return null;
  let out = header(`tables of ${qs}`);
  out += "/*!40101 SET SQL_MODE='NO_AUTO_VALUE_ON_ZERO'*/;\n";
  out += `USE ${qs};\n`;
  for (const t of list) {
    const qt = quoteIdent(t.name);
    const [c] = await rows(control, `SHOW CREATE TABLE ${qs}.${qt}`);
    out += `DROP TABLE IF EXISTS ${qt};\n${col(c ?? {}, 'Create Table')};\n`;
  }
  return out;
}

/** A client-side DELIMITER block, as mariadb-dump writes it (our restore and the mariadb client both read it). */
function delimited(stmt: Buffer): Buffer {
  return Buffer.concat([Buffer.from('DELIMITER ;;\n'), stmt, Buffer.from(' ;;\nDELIMITER ;\n')]);
}

/** A row of SHOW CREATE read with `character_set_results = binary`: every value as the server's bytes. */
type RawRow = Record<string, Buffer | null>;

async function rawRows(control: Conn, sql: string): Promise<RawRow[]> {
  await control.p.query('SET SESSION character_set_results = binary');
  try {
    const [r] = await control.p.query({ sql, typeCast: false });
    return r as RawRow[];
  } finally {
    await control.p.query('SET SESSION character_set_results = utf8mb4');
  }
}

function rawCol(r: RawRow | undefined, name: string): Buffer {
  if (!r) return Buffer.alloc(0);
  const k = Object.keys(r).find((x) => x.toLowerCase() === name.toLowerCase());
  return (k === undefined ? null : r[k]) ?? Buffer.alloc(0);
}

/**
 * A stored program or view exactly as its creator's session had it. The server keeps the definition in
 * the creating client's character set, with that character set and collation: read as bytes
 * (`character_set_results = binary`), it is sent back as the same bytes under the same settings, so a
 * literal like 'café' written by a latin1 client stays a latin1 literal (a UTF-8 rewrite would
 * double-encode it). The session goes back to utf8mb4 for our own statements after it.
 */
function storedObject(r: RawRow | undefined, create: Buffer, extra = ''): Buffer {
  const cs = rawCol(r, 'character_set_client').toString('latin1');
  const coll = rawCol(r, 'collation_connection').toString('latin1');
  const mode = rawCol(r, 'sql_mode').toString('latin1');
  const session =
    (cs ? `SET character_set_client = ${quoteString(cs)};\n` : '') +
    (coll ? `SET collation_connection = ${quoteString(coll)};\n` : '') +
    `SET SESSION sql_mode = ${quoteString(mode)};\n${extra}`;
  return Buffer.concat([
    Buffer.from(session, 'utf8'),
    delimited(create),
    Buffer.from('/*!40101 SET NAMES utf8mb4*/;\n', 'utf8'),
  ]);
}

async function routinesSql(control: Conn, schema: string): Promise<Buffer | null> {
  const list = await rows(
    control,
    `SELECT ROUTINE_NAME AS n, ROUTINE_TYPE AS t FROM information_schema.ROUTINES
      WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_TYPE, ROUTINE_NAME`,
    [schema],
  );
  if (list.length === 0) return null;
  const qs = quoteIdent(schema);
  const out: Buffer[] = [Buffer.from(header(`routines of ${qs}`) + `USE ${qs};\n`)];
  for (const r of list) {
    const type = col(r, 't').toUpperCase() === 'FUNCTION' ? 'FUNCTION' : 'PROCEDURE';
    const qn = quoteIdent(col(r, 'n'));
    const [c] = await rawRows(control, `SHOW CREATE ${type} ${qs}.${qn}`);
    const create = rawCol(c, type === 'FUNCTION' ? 'Create Function' : 'Create Procedure');
    out.push(Buffer.from(`DROP ${type} IF EXISTS ${qn};\n`), storedObject(c, create));
  }
  return Buffer.concat(out);
}

/** Views of every schema in dependency order (a view over a view comes after it), so no placeholders. */
async function viewsSql(control: Conn, schemas: string[]): Promise<Buffer | null> {
  const list = await rows(
    control,
    `SELECT TABLE_SCHEMA AS s, TABLE_NAME AS n FROM information_schema.VIEWS
      WHERE TABLE_SCHEMA IN (?) ORDER BY TABLE_SCHEMA, TABLE_NAME`,
    [schemas.length ? schemas : ['']],
  );
  if (list.length === 0) return null;
  const views = new Map<string, { schema: string; name: string; create: Buffer; row: RawRow | undefined }>();
  for (const r of list) {
    const s = col(r, 's');
    const n = col(r, 'n');
    const [c] = await rawRows(control, `SHOW CREATE VIEW ${quoteIdent(s)}.${quoteIdent(n)}`);
    views.set(`${quoteIdent(s)}.${quoteIdent(n)}`, {
      schema: s,
      name: n,
      create: rawCol(c, 'Create View'),
      row: c,
    });
  }
  const ordered = orderViews(
    [...views.entries()].map(([id, v]) => ({ id, schema: v.schema, create: v.create.toString('utf8') })),
  ).map((id) => views.get(id)!);
  const out: Buffer[] = [Buffer.from(header('views'))];
  for (const v of ordered) {
    out.push(Buffer.from(`USE ${quoteIdent(v.schema)};\nDROP VIEW IF EXISTS ${quoteIdent(v.name)};\n`));
    // A view's definition does not depend on sql_mode (it is stored resolved).
    out.push(storedObject({ ...v.row, sql_mode: Buffer.alloc(0) }, v.create));
  }
  return Buffer.concat(out);
}
/**
 * Orders views so each comes after the views it selects from. SHOW CREATE VIEW qualifies every table
 * it reads as `schema`.`name`; a reference without a schema is in the view's own schema.
 */
export function orderViews(views: { id: string; schema: string; create: string }[]): string[] {
  const ids = new Set(views.map((v) => v.id));
  const deps = new Map<string, string[]>();
  for (const v of views) {
    const body = v.create.replace(/^[\s\S]*?\bVIEW\s+`(?:[^`]|``)+`(?:\.`(?:[^`]|``)+`)?\s+AS\b/i, '');
    const refs = new Set<string>();
    for (const m of body.matchAll(/`((?:[^`]|``)+)`\.`((?:[^`]|``)+)`/g)) refs.add(`\`${m[1]}\`.\`${m[2]}\``);
    for (const m of body.matchAll(/(?<![`.])`((?:[^`]|``)+)`(?!\.)/g))
      refs.add(`${quoteIdent(v.schema)}.\`${m[1]}\``);
    deps.set(
      v.id,
      [...refs].filter((r) => r !== v.id && ids.has(r)),
    );
  }
  const out: string[] = [];
  const state = new Map<string, 1 | 2>();
  const visit = (id: string) => {
    if (state.get(id) === 2) return;
    if (state.get(id) === 1) return; // a cycle cannot exist between valid views; do not loop
    state.set(id, 1);
    for (const d of deps.get(id) ?? []) visit(d);
    state.set(id, 2);
    out.push(id);
  };
  for (const v of views) visit(v.id);
  return out;
}

async function triggersSql(control: Conn, schema: string): Promise<Buffer | null> {
  const list = await rows(
    control,
    `SELECT TRIGGER_NAME AS n FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?
      ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER`,
    [schema],
  );
  if (list.length === 0) return null;
  const qs = quoteIdent(schema);
  const out: Buffer[] = [Buffer.from(header(`triggers of ${qs}`) + `USE ${qs};\n`)];
  for (const r of list) {
    const qn = quoteIdent(col(r, 'n'));
    const [c] = await rawRows(control, `SHOW CREATE TRIGGER ${qs}.${qn}`);
    out.push(
      Buffer.from(`DROP TRIGGER IF EXISTS ${qn};\n`),
      storedObject(c, rawCol(c, 'SQL Original Statement')),
    );
  }
  return Buffer.concat(out);
}

async function eventsSql(control: Conn, schema: string): Promise<Buffer | null> {
  const list = await rows(
    control,
    'SELECT EVENT_NAME AS n FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME',
    [schema],
  );
  if (list.length === 0) return null;
  const qs = quoteIdent(schema);
  const out: Buffer[] = [Buffer.from(header(`events of ${qs}`) + `USE ${qs};\n`)];
  for (const r of list) {
    const qn = quoteIdent(col(r, 'n'));
    const [c] = await rawRows(control, `SHOW CREATE EVENT ${qs}.${qn}`);
    const tz = rawCol(c, 'time_zone').toString('latin1');
    out.push(
      Buffer.from(`DROP EVENT IF EXISTS ${qn};\n`),
      storedObject(c, rawCol(c, 'Create Event'), tz ? `SET time_zone = ${quoteString(tz)};\n` : ''),
    );
  }
  return Buffer.concat(out);
}

/**
 * The source's accounts, authentication and privileges, copied as the rows of the flavor's account
 * tables (MariaDB: mysql.global_priv, db, tables_priv, ...; see ACCOUNT_TABLES in cluster/flavor.ts):
 * exact where CREATE USER + GRANT replays are not (password hashes, plugins, roles and default roles,
 * resource limits, proxies, a password changed on an account that already exists on the target). The
 * target's rows are replaced, except its installation's own accounts (root@localhost, ...) and the
 * account the dump runs as, and FLUSH PRIVILEGES makes them effective at once. Restorable by hand like
 * every other object.
 */
async function accountsSql(control: Conn, flavor: Flavor): Promise<Buffer> {
  const out: Buffer[] = [Buffer.from(header('accounts and grants'))];
  // Kept as the target has them: its installation's accounts, and the account this copy runs as (the
  // watchdog's, the same on every server). Each table is a DELETE then INSERTs, and MariaDB's account
  // tables are not transactional: a restore cut short between them (a crash, a restart, a deadline)
  // would otherwise leave the target without the account that must run the copy again.
  const [self] = await rows(control, 'SELECT CURRENT_USER() AS u');
  const selfName = col(self!, 'u');
  const at = selfName.lastIndexOf('@');
  const kept: Array<readonly [string, string]> = [
    ...flavor.localAccounts(),
    ...(at > 0 ? [[selfName.slice(0, at), selfName.slice(at + 1)] as const] : []),
  ];
  for (const table of flavor.accountTables()) {
    const cols = await rows(
      control,
      `SELECT COLUMN_NAME AS c, DATA_TYPE AS dt, COLUMN_TYPE AS ct, CHARACTER_SET_NAME AS cs
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'mysql' AND TABLE_NAME = ?
        ORDER BY ORDINAL_POSITION`,
      [table],
    );
    if (cols.length === 0) continue; // not in this server version
    const names = cols.map((r) => col(r, 'c'));
    const pick = (...want: string[]) => names.find((n) => want.includes(n.toLowerCase()));
    const user = pick('user', 'to_user');
    const host = pick('host', 'to_host');
    const qt = `${quoteIdent('mysql')}.${quoteIdent(table)}`;
    const notLocal =
      user && host && kept.length > 0
        ? ` WHERE (${quoteIdent(user)}, ${quoteIdent(host)}) NOT IN (${kept
            .map(([u, h]) => `(${quoteString(u)}, ${quoteString(h)})`)
            .join(', ')})`
        : '';
    const raw = cols.map((r) => columnRead(col(r, 'c'), col(r, 'dt'), col(r, 'ct'), col(r, 'cs') || null));
    const plan = planCharsets(['mysql', table, ...names], raw);
    out.push(Buffer.from(`DELETE FROM ${qt}${notLocal};\n/*!40101 SET NAMES ${plan.charset}*/;\n`));
    const statements: Buffer[] = [];
    const encoder = new InsertEncoder('mysql', table, plan.columns, (stmt) => {
      statements.push(stmt);
      return true;
    });
    await control.p.query('SET SESSION character_set_results = binary');
    try {
      const [data] = await control.p.query({
        sql: `SELECT ${raw.map((c) => c.expr).join(',')} FROM ${qt}${notLocal}`,
        rowsAsArray: true,
        typeCast: false,
      });
      for (const r of data as unknown as (Buffer | null)[][]) encoder.row(r);
    } finally {
      await control.p.query('SET SESSION character_set_results = utf8mb4');
    }
    encoder.flush();
    out.push(...statements, Buffer.from('/*!40101 SET NAMES utf8mb4*/;\n'));
  }
  out.push(Buffer.from('FLUSH PRIVILEGES;\n'));
  return Buffer.concat(out);
}
