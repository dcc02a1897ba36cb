/**
 * The physical backup's transport (infra/ssm/reseed/object-stream.py) for real, through a folder store
 * and a local S3 endpoint (s3rver): what `put` stores is standard gzip that `gunzip` reads, made of
 * independent members so that several threads compress at once, uploaded several parts at a time, and
 * `get` gives back every byte or fails.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openObjectStore } from '../../functions/storage/open-store.js';
import { type LocalS3, startLocalS3 } from '../harness/s3rver.js';

const HELPER = fileURLToPath(new URL('../../infra/ssm/reseed/object-stream.py', import.meta.url));
const store = mkdtempSync(join(tmpdir(), 'object-stream-'));
let s3: LocalS3;
beforeAll(async () => {
  s3 = await startLocalS3();
}, 60_000);
afterAll(async () => {
  rmSync(store, { recursive: true, force: true });
  await s3?.stop();
});

/** The helper's environment for the local S3 endpoint, as reseed.sh sets it from its settings. */
const s3Env = (): Record<string, string> => ({
  RESEED_STORE: `s3://${s3.bucket}/backups`,
  RESEED_S3_ENDPOINT: s3.endpoint,
  AWS_ACCESS_KEY_ID: s3.storeOptions.credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: s3.storeOptions.credentials.secretAccessKey,
  AWS_REGION: s3.storeOptions.region,
});

function helper(args: string[], input: Buffer | null, env: Record<string, string> = {}) {
  const r = spawnSync('python3', [HELPER, ...args], {
    input: input ?? Buffer.alloc(0),
    env: { PATH: process.env.PATH ?? '', RESEED_STORE: store, ...env },
    maxBuffer: 256 * 1024 * 1024,
    timeout: 300_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

/** A backup-like stream: incompressible pages mixed with runs of repeated rows. */
function backupLike(mib: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < mib; i++) {
    parts.push(i % 3 === 0 ? randomBytes(1 << 20) : Buffer.alloc(1 << 20, `row ${i} padding `));
  }
  return Buffer.concat(parts);
}

/** How many gzip members `file` holds (RFC 1952: a file may hold several; gunzip reads them in a row). */
function gzipMembers(file: string): number {
  const count = spawnSync(
    'python3',
    [
      '-c',
      `import sys, zlib
data = open(sys.argv[1], "rb").read()
n = 0
while data:
    d = zlib.decompressobj(31)
    d.decompress(data)
    assert d.eof, "a member ends early"
    n += 1
    data = d.unused_data
print(n)`,
      file,
    ],
    { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
  );
  expect(count.stderr).toBe('');
  return Number(count.stdout.trim());
}

describe('object-stream.py (the physical backup in the object store)', () => {
  const input = backupLike(40);

  it('compresses on several threads into independent gzip members that gunzip reads back whole, and get returns every byte', () => {
    const put = helper(['put', 'backups/b1.xb.gz', String(input.length)], input, {
      RESEED_COMPRESS_THREADS: '3',
    });
    expect(put.stderr).toBe('');
    expect(put.status).toBe(0);
    expect(JSON.parse(put.stdout.toString('utf8'))).toMatchObject({ rawBytes: input.length });
    const object = readFileSync(join(store, 'backups', 'b1.xb.gz'));
    expect(gzipMembers(join(store, 'backups', 'b1.xb.gz'))).toBeGreaterThan(1);
    const gunzip = spawnSync('gzip', ['-dc'], { input: object, maxBuffer: 256 * 1024 * 1024 });
    expect(gunzip.status).toBe(0);
    expect(gunzip.stdout.equals(input)).toBe(true);

    const get = helper(['get', 'backups/b1.xb.gz'], null);
    expect(get.status).toBe(0);
    expect(get.stdout.equals(input)).toBe(true);
    const progress = JSON.parse(
      readFileSync(join(store, 'backups', 'b1.xb.gz.restore-progress.json'), 'utf8'),
    );
    expect(progress).toMatchObject({ stage: 'restore', done: true, rawBytes: input.length });
  });

  it('uploads a backup of several parts to S3, two parts at a time, and reads it back whole', async () => {
    // Mostly incompressible: about 70 MiB stored, five parts of 16 MiB.
    const big = Buffer.concat([randomBytes(64 << 20), backupLike(12)]);
    const put = helper(['put', 'b2.xb.gz', String(big.length)], big, {
      ...s3Env(),
      RESEED_COMPRESS_THREADS: '2',
    });
    expect(put.stderr).toBe('');
    expect(put.status).toBe(0);
    const { rawBytes, storedBytes } = JSON.parse(put.stdout.toString('utf8'));
    expect(rawBytes).toBe(big.length);
    expect(storedBytes).toBeGreaterThan(4 * (16 << 20));
    const object = openObjectStore(`s3://${s3.bucket}/backups`, s3.storeOptions);
    expect((await object.head('b2.xb.gz'))?.size).toBe(storedBytes);

    const get = helper(['get', 'b2.xb.gz'], null, s3Env());
    expect(get.stderr).toBe('');
    expect(get.status).toBe(0);
    expect(get.stdout.equals(big)).toBe(true);
  });

  it('stores an empty stream as a valid gzip object that reads back empty', () => {
    expect(helper(['put', 'backups/empty.xb.gz', '0'], Buffer.alloc(0)).status).toBe(0);
    const get = helper(['get', 'backups/empty.xb.gz'], null);
    expect(get.status).toBe(0);
    expect(get.stdout.length).toBe(0);
  });

  it('reads a single-member object (one gzip stream, as gzip itself writes it)', () => {
    const gz = spawnSync('gzip', ['-1', '-c'], { input, maxBuffer: 256 * 1024 * 1024 }).stdout;
    mkdirSync(join(store, 'backups'), { recursive: true });
    writeFileSync(join(store, 'backups', 'single.xb.gz'), gz);
    const get = helper(['get', 'backups/single.xb.gz'], null);
    expect(get.status).toBe(0);
    expect(get.stdout.equals(input)).toBe(true);
  });

  it('fails on an object that ends inside a member, after writing what it could read', () => {
    expect(helper(['put', 'backups/cut.xb.gz', '0'], input, { RESEED_COMPRESS_THREADS: '2' }).status).toBe(0);
    const file = join(store, 'backups', 'cut.xb.gz');
    truncateSync(file, statSync(file).size - 1000);
    const get = helper(['get', 'backups/cut.xb.gz'], null);
    expect(get.status).not.toBe(0);
    expect(get.stderr).toMatch(/truncated/);
    expect(get.stdout.length).toBeGreaterThan(0);
    expect(input.subarray(0, get.stdout.length).equals(get.stdout)).toBe(true);
  });
});
