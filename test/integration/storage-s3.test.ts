/**
 * The ObjectStore adapters against real storage: the S3 adapter against a local S3 endpoint (s3rver,
 * the same HTTP code path as AWS: multipart upload with checksums and SSE headers, listing, head,
 * ranged streaming reads), and the folder adapter on a temporary folder.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageError } from '../../functions/errors.js';
import { type ObjectStore, readAll } from '../../functions/storage/object-store.js';
import { openObjectStore } from '../../functions/storage/open-store.js';
import type { S3ObjectStore } from '../../functions/storage/s3-store.js';
import { type LocalS3, startLocalS3 } from '../harness/s3rver.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A body produced in small pieces, like a dump's gzip output. */
function pieces(data: Buffer, size = 64 * 1024): Readable {
  let at = 0;
  return new Readable({
    read() {
      if (at >= data.length) this.push(null);
      else {
        this.push(data.subarray(at, at + size));
        at += size;
      }
    },
  });
}

function behavesAsObjectStore(name: string, open: () => ObjectStore) {
  describe(name, () => {
    it('streams a multi-part object in and back out unchanged', async () => {
      const store = open();
      const data = randomBytes(12 * 1024 * 1024 + 123);
      const put = await store.put('10-data/a/t.00000.sql.gz', pieces(data));
      expect(put.bytes).toBe(data.length);
      expect(sha(await readAll(await store.get('10-data/a/t.00000.sql.gz')))).toBe(sha(data));
      expect(await store.head('10-data/a/t.00000.sql.gz')).toMatchObject({ size: data.length });
    });

    it('lists by prefix in key order, reports absent objects and deletes', async () => {
      const store = open();
      for (const k of ['p/b.txt', 'p/a.txt', 'q/c.txt']) await store.put(k, Readable.from([Buffer.from(k)]));
      expect((await store.list('p/')).map((o) => o.key)).toEqual(['p/a.txt', 'p/b.txt']);
      expect(await store.head('p/none.txt')).toBeUndefined();
      await expect(store.get('p/none.txt')).rejects.toBeInstanceOf(StorageError);
      await store.delete('p/a.txt');
      expect((await store.list('p/')).map((o) => o.key)).toEqual(['p/b.txt']);
    });

    it('does not publish an object whose body failed', async () => {
      const store = open();
      const failing = new Readable({
        read() {
          this.destroy(new Error('source failed'));
        },
      });
      await expect(store.put('broken/x.sql.gz', failing)).rejects.toBeInstanceOf(StorageError);
      expect(await store.head('broken/x.sql.gz')).toBeUndefined();
    });
  });
}

describe('object storage adapters', () => {
  let s3: LocalS3;
  let folder: string;
  let n = 0;
  beforeAll(async () => {
    s3 = await startLocalS3({ bucket: 'storage-test' });
    folder = await mkdtemp(join(tmpdir(), 'folder-store-'));
  });
  afterAll(async () => {
    await Promise.allSettled([s3?.stop(), folder ? rm(folder, { recursive: true, force: true }) : 0]);
  });

  behavesAsObjectStore('S3 (multipart, CRC32 checksums, SSE-S3) on a local endpoint', () =>
    openObjectStore(`s3://${s3.bucket}/run-${++n}`, {
      ...s3.storeOptions,
      checksumAlgorithm: 'CRC32',
      sse: { type: 'AES256' },
      partSize: 5 * 1024 * 1024,
    }),
  );
  behavesAsObjectStore('S3 with SHA-256 checksums', () =>
    openObjectStore(`s3://${s3.bucket}/sha-${++n}`, { ...s3.storeOptions, checksumAlgorithm: 'SHA256' }),
  );
  behavesAsObjectStore('local folder', () => openObjectStore(join(folder, `run-${++n}`)));

  /** Watches the store's own client: UploadPart calls at the same time, and the part buffers sent. */
  function watchParts(store: S3ObjectStore) {
    const seen = { parts: 0, inFlight: 0, maxInFlight: 0, buffers: new Set<ArrayBufferLike>() };
    store.client.middlewareStack.add(
      (next, context) => async (args) => {
        const body = (args.input as { Body?: unknown }).Body;
        if (Buffer.isBuffer(body)) seen.buffers.add(body.buffer);
        if (context.commandName !== 'UploadPartCommand') return next(args);
        seen.parts++;
        seen.inFlight++;
        seen.maxInFlight = Math.max(seen.maxInFlight, seen.inFlight);
        try {
          return await next(args);
        } finally {
          seen.inFlight--;
        }
      },
      { step: 'initialize', name: 'watchParts' },
    );
    return seen;
  }

  it('uploads at most queueSize parts of one object at a time', async () => {
    for (const queueSize of [1, 2]) {
      const store = openObjectStore(`s3://${s3.bucket}/queue-${queueSize}`, {
        ...s3.storeOptions,
        queueSize,
      }) as S3ObjectStore;
      const seen = watchParts(store);
      const data = randomBytes(26 * 1024 * 1024);
      await store.put('big.bin', pieces(data));
      expect(seen.parts).toBe(6);
      expect(seen.maxInFlight).toBeLessThanOrEqual(queueSize);
      expect(sha(await readAll(await store.get('big.bin')))).toBe(sha(data));
    }
  });

  it('reuses its part buffers from one upload to the next', async () => {
    const store = openObjectStore(`s3://${s3.bucket}/reuse`, {
      ...s3.storeOptions,
      queueSize: 1,
      checksumAlgorithm: 'CRC32',
    }) as S3ObjectStore;
    const seen = watchParts(store);
    const sizes = [1, 11, 2, 0, 6, 1].map((m) => m * 1024 * 1024 + 17);
    const datas = sizes.map((n) => randomBytes(n));
    for (const [i, data] of datas.entries()) await store.put(`o${i}.bin`, pieces(data));
    // One part filling and one in flight, whatever the number of objects and parts.
    expect(seen.buffers.size).toBeLessThanOrEqual(2);
    for (const [i, data] of datas.entries())
      expect(sha(await readAll(await store.get(`o${i}.bin`)))).toBe(sha(data));
  });

  it('stops an upload when its signal fires, and still runs one started after it fired', async () => {
    const store = openObjectStore(`s3://${s3.bucket}/signals`, s3.storeOptions);
    const running = new AbortController();
    let reads = 0;
    // A producer that stops producing: the deadline comes while the upload waits for more.
    const stalled = new Readable({
      read() {
        if (++reads === 1) this.push(randomBytes(6 * 1024 * 1024));
        else running.abort(new Error('deadline'));
      },
    });
    await expect(store.put('stopped.bin', stalled, { signal: running.signal })).rejects.toBeInstanceOf(
      StorageError,
    );
    expect(await store.head('stopped.bin')).toBeUndefined();
    // What a resumable dump does right after its deadline: the record of a part it just finished.
    const late = randomBytes(1024);
    await store.put('late.json', pieces(late), { signal: running.signal });
    expect(sha(await readAll(await store.get('late.json')))).toBe(sha(late));
  });

  it('leaves no temporary files in the folder after failed writes', async () => {
    const entries = await readdir(folder, { recursive: true });
    expect(entries.filter((e) => String(e).includes('.part-'))).toEqual([]);
  });
});
