import { createHash } from 'node:crypto';
import { z } from 'zod';
import { DumpIntegrityError } from '../errors.js';

/**
 * The dump's manifest and object layout. `manifest.json` is written last: its presence marks a
 * complete dump. Object keys sort in restore order, so a person can restore by hand with
 * `for f in $(ls | sort); do zcat "$f"; done | mariadb` (see README.md).
 */
export const DUMP_FORMAT = 'mysql-failover-dump';
export const DUMP_FORMAT_VERSION = 1;
export const MANIFEST_KEY = 'manifest.json';

export const OBJECT_KINDS = ['schema', 'data', 'users', 'routines', 'views', 'triggers', 'events'] as const;
export type ObjectKind = (typeof OBJECT_KINDS)[number];

/** Restore phases in order: schema first, data in parallel, then objects that depend on data. */
export const KIND_ORDER: Record<ObjectKind, number> = {
  schema: 0,
  data: 1,
  users: 2,
  routines: 3,
  views: 4,
  triggers: 5,
  events: 6,
};

/** Keys are readable and sortable; names are percent-encoded so any identifier is a safe key. */
function seg(name: string): string {
  return encodeURIComponent(name).replace(/\*/g, '%2A');
}

export const objectKey = {
  /** The database and its sequences (every schema's sequences exist before any table refers to one). */
  schema: (schema: string) => `00-schema/${seg(schema)}.sql.gz`,
  tables: (schema: string) => `01-tables/${seg(schema)}.sql.gz`,
  data: (schema: string, table: string, chunk: number) =>
    `10-data/${seg(schema)}/${seg(table)}.${String(chunk).padStart(5, '0')}.sql.gz`,
  users: () => `20-users.sql.gz`,
  routines: (schema: string) => `30-routines/${seg(schema)}.sql.gz`,
  views: () => `40-views.sql.gz`,
  triggers: (schema: string) => `50-triggers/${seg(schema)}.sql.gz`,
  events: (schema: string) => `60-events/${seg(schema)}.sql.gz`,
};

const objectSchema = z.object({
  key: z.string().min(1),
  kind: z.enum(OBJECT_KINDS),
  schema: z.string().optional(),
  table: z.string().optional(),
  chunk: z.number().int().nonnegative().optional(),
  /** A system-versioned table: its rows include the history (counted `FOR SYSTEM_TIME ALL`). */
  versioned: z.boolean().optional(),
  /** The primary-key range of a chunk, as SQL (for people reading the manifest). */
  where: z.string().optional(),
  rows: z.number().int().nonnegative(),
  /** Uncompressed SQL bytes. */
  bytes: z.number().int().nonnegative(),
  /** Bytes stored (gzip), and their SHA-256 (hex): `sha256sum` on the stored file gives the same. */
  compressedBytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type DumpObject = z.infer<typeof objectSchema>;

export const manifestSchema = z.object({
  format: z.literal(DUMP_FORMAT),
  formatVersion: z.literal(DUMP_FORMAT_VERSION),
  tool: z.object({ name: z.string(), version: z.string() }),
  created: z.string(),
  finished: z.string(),
  source: z.object({
    host: z.string(),
    port: z.number().int(),
    serverId: z.number().int().optional(),
    hostname: z.string().optional(),
    flavor: z.enum(['mariadb', 'mysql']),
    version: z.string(),
  }),
  gtid: z.object({
    /** The position replication starts from after restoring this dump. */
    position: z.string(),
    binlogPos: z.string().optional(),
    currentPos: z.string().optional(),
    slavePos: z.string().optional(),
    /**
     * MariaDB: gtid_binlog_state at the snapshot (the last seq of every domain-server pair). A restore
     * sets it, so the rebuilt server's binlog state holds the source's whole history.
     */
    binlogState: z.string().optional(),
    /** MySQL: gtid_executed at the snapshot. */
    executed: z.string().optional(),
    /**
     * A dump resumed across calls: its parts were read at positions from `position` to this one.
     * Replication from `position` runs with slave_exec_mode=IDEMPOTENT until past it, then STRICT.
     */
    replayUntil: z.string().optional(),
  }),
  snapshot: z.object({
    method: z.string(),
    workers: z.number().int().positive(),
    /** A resumable dump: how many calls (snapshots) read its parts. */
    sessions: z.number().int().positive().optional(),
  }),
  schemas: z.array(z.string()),
  options: z.object({ users: z.boolean(), compressionLevel: z.number().int(), chunkRows: z.number().int() }),
  objects: z.array(objectSchema),
  totals: z.object({
    rows: z.number().int().nonnegative(),
    bytes: z.number().int().nonnegative(),
    compressedBytes: z.number().int().nonnegative(),
  }),
});
export type Manifest = z.infer<typeof manifestSchema>;

/** Parses and checks a manifest; a mismatch is a DumpIntegrityError naming what is wrong. */
export function parseManifest(bytes: Buffer | string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  } catch (error) {
    throw new DumpIntegrityError('manifest.json is not valid JSON', { cause: error });
  }
  const fmt = (json as { format?: unknown; formatVersion?: unknown } | null) ?? {};
  if (fmt.format !== DUMP_FORMAT) {
    throw new DumpIntegrityError(
      `manifest.json is not a ${DUMP_FORMAT} manifest (format: ${String(fmt.format)})`,
    );
  }
  if (fmt.formatVersion !== DUMP_FORMAT_VERSION) {
    throw new DumpIntegrityError(
      `manifest.json has format version ${String(fmt.formatVersion)}; this tool reads version ${DUMP_FORMAT_VERSION}`,
    );
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    throw new DumpIntegrityError(`manifest.json does not match the format: ${parsed.error.message}`, {
      details: { issues: parsed.error.issues.slice(0, 5) },
    });
  }
  const m = parsed.data;
  const keys = new Set<string>();
  for (const o of m.objects) {
    if (keys.has(o.key)) throw new DumpIntegrityError(`manifest.json lists ${o.key} twice`);
    keys.add(o.key);
    if (o.kind === 'data' && (o.schema === undefined || o.table === undefined)) {
      throw new DumpIntegrityError(`manifest.json: data object ${o.key} lacks its schema or table`);
    }
  }
  const rows = m.objects.reduce((a, o) => a + o.rows, 0);
  if (rows !== m.totals.rows) {
    throw new DumpIntegrityError(
      `manifest.json: objects hold ${rows} rows but the totals say ${m.totals.rows}`,
    );
  }
  return m;
}

/** Identity of a dump for checkpoints: a resumed restore must continue the same dump. */
export function manifestId(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Objects in restore order: by phase, then by key. */
export function objectsInOrder(m: Manifest): DumpObject[] {
  return [...m.objects].sort((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || (a.key < b.key ? -1 : 1));
}
