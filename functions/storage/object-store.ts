import { type Readable, Transform } from 'node:stream';

/** One stored object as a listing or a head request reports it. */
export interface ObjectInfo {
  /** Key relative to the store's prefix. */
  key: string;
  size: number;
  lastModified?: Date;
}

export interface PutResult {
  key: string;
  /** Bytes read from the body and stored. */
  bytes: number;
}

export interface PutOptions {
  contentType?: string;
  signal?: AbortSignal;
}

/**
 * The object storage port: the dump streams objects in and the restore streams them out. Keys are
 * relative to the store's base (an S3 prefix or a folder), always with '/' separators.
 */
export interface ObjectStore {
  /** Where the store points, as the user wrote it (s3://bucket/prefix or a folder path). */
  readonly url: string;
  /** Streams the body into `key`; the object becomes visible only once complete. */
  put(key: string, body: Readable, options?: PutOptions): Promise<PutResult>;
  /** Streams the object back; throws StorageError when it does not exist. */
  get(key: string, options?: { signal?: AbortSignal }): Promise<Readable>;
  /** Size of the object, or undefined when it does not exist. */
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Every object whose key starts with `prefix`, sorted by key. */
  list(prefix: string): Promise<ObjectInfo[]>;
  delete(key: string): Promise<void>;
}

/** Normalises a key: no leading slash, no '..' segments (a key never leaves the store's base). */
export function normalizeKey(key: string): string {
  const parts = key.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) throw new Error(`object key must not contain '..': ${key}`);
  return parts.join('/');
}

/** Reads a whole (small) object into memory: manifests, checkpoints, schema objects. */
export async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/**
 * Wraps a body in a byte-counting pass-through. (A 'data' listener on the body itself would switch it
 * to flowing mode before the uploader reads it, and bytes could be emitted to nobody.)
 */
export function counted(body: Readable): { stream: Transform; bytes: () => number } {
  let n = 0;
  const stream = new Transform({
    readableHighWaterMark: 1 << 20,
    writableHighWaterMark: 1 << 20,
    transform(chunk: Buffer, _e, cb) {
      n += chunk.length;
      cb(null, chunk);
    },
  });
  body.on('error', (e) => stream.destroy(e));
  body.pipe(stream);
  return { stream, bytes: () => n };
}
