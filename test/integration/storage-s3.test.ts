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

  it('leaves no temporary files in the folder after failed writes', async () => {
    const entries = await readdir(folder, { recursive: true });
    expect(entries.filter((e) => String(e).includes('.part-'))).toEqual([]);
  });
});
