/**
 * The physical backup's transport (infra/ssm/reseed/object-stream.py) for real, through a folder store
 * and a local S3 endpoint (s3rver): what `put` stores is standard zstd (where the zstd command is
 * installed: the default) or gzip made of independent members so that several threads compress at once,
 * uploaded several parts at a time; `get` reads either and gives back every byte or fails.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
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

describe('object-stream.py with gzip (RESEED_COMPRESSION=gzip, or no zstd on the host)', () => {
  const input = backupLike(40);
  const gzip = { RESEED_COMPRESSION: 'gzip' };

  it('compresses on several threads into independent gzip members that gunzip reads back whole, and get returns every byte', () => {
    const put = helper(['put', 'backups/b1.xb.gz', String(input.length)], input, {
      ...gzip,
      RESEED_COMPRESS_THREADS: '3',
    });
    expect(put.stderr).toBe('');
    expect(put.status).toBe(0);
    expect(JSON.parse(put.stdout.toString('utf8'))).toMatchObject({
      rawBytes: input.length,
      compression: 'gzip',
    });
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
      ...gzip,
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
    expect(helper(['put', 'backups/empty.xb.gz', '0'], Buffer.alloc(0), gzip).status).toBe(0);
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
    expect(
      helper(['put', 'backups/cut.xb.gz', '0'], input, { ...gzip, RESEED_COMPRESS_THREADS: '2' }).status,
    ).toBe(0);
    const file = join(store, 'backups', 'cut.xb.gz');
    truncateSync(file, statSync(file).size - 1000);
    const get = helper(['get', 'backups/cut.xb.gz'], null);
    expect(get.status).not.toBe(0);
    expect(get.stderr).toMatch(/truncated/);
    expect(get.stdout.length).toBeGreaterThan(0);
    expect(input.subarray(0, get.stdout.length).equals(get.stdout)).toBe(true);
  });
});

/** A PATH holding python3 but not zstd: a host without the zstd package. */
function pathWithoutZstd(): string {
  const bin = join(store, 'bin-without-zstd');
  mkdirSync(bin, { recursive: true });
  const python = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], {
    encoding: 'utf8',
  }).stdout.trim();
  spawnSync('ln', ['-sf', python, join(bin, 'python3')]);
  return bin;
}

describe('object-stream.py with zstd (the default where the zstd command is installed)', () => {
  const input = backupLike(40);

  it('compresses with zstd by default into an object that zstd reads back, and get returns every byte', () => {
    const put = helper(['put', 'z/b1.xb', String(input.length)], input);
    expect(put.stderr).toBe('');
    expect(put.status).toBe(0);
    const result = JSON.parse(put.stdout.toString('utf8'));
    expect(result).toMatchObject({ rawBytes: input.length, compression: 'zstd' });
    const object = readFileSync(join(store, 'z', 'b1.xb'));
    expect(result.storedBytes).toBe(object.length);
    const unzstd = spawnSync('zstd', ['-d', '-q', '-c'], { input: object, maxBuffer: 256 * 1024 * 1024 });
    expect(unzstd.status).toBe(0);
    expect(unzstd.stdout.equals(input)).toBe(true);

    const get = helper(['get', 'z/b1.xb'], null);
    expect(get.stderr).toBe('');
    expect(get.status).toBe(0);
    expect(get.stdout.equals(input)).toBe(true);
    const progress = JSON.parse(readFileSync(join(store, 'z', 'b1.xb.restore-progress.json'), 'utf8'));
    expect(progress).toMatchObject({
      stage: 'restore',
      done: true,
      rawBytes: input.length,
      storedBytes: object.length,
    });
  });

  it('uploads a zstd backup of several parts to S3 and reads it back whole', async () => {
    const big = Buffer.concat([randomBytes(64 << 20), backupLike(12)]);
    const put = helper(['put', 'z2.xb', String(big.length)], big, { ...s3Env(), RESEED_COMPRESSION: 'zstd' });
    expect(put.stderr).toBe('');
    expect(put.status).toBe(0);
    const { rawBytes, storedBytes } = JSON.parse(put.stdout.toString('utf8'));
    expect(rawBytes).toBe(big.length);
    expect(storedBytes).toBeGreaterThan(4 * (16 << 20));
    const object = openObjectStore(`s3://${s3.bucket}/backups`, s3.storeOptions);
    expect((await object.head('z2.xb'))?.size).toBe(storedBytes);
    const get = helper(['get', 'z2.xb'], null, s3Env());
    expect(get.stderr).toBe('');
    expect(get.status).toBe(0);
    expect(get.stdout.equals(big)).toBe(true);
  });

  it('stores an empty stream as a valid zstd object that reads back empty', () => {
    expect(helper(['put', 'z/empty.xb', '0'], Buffer.alloc(0)).status).toBe(0);
    const get = helper(['get', 'z/empty.xb'], null);
    expect(get.status).toBe(0);
    expect(get.stdout.length).toBe(0);
  });

  it('fails on a truncated zstd object, after writing what it could read', () => {
    expect(helper(['put', 'z/cut.xb', '0'], input).status).toBe(0);
    const file = join(store, 'z', 'cut.xb');
    truncateSync(file, statSync(file).size - 1000);
    const get = helper(['get', 'z/cut.xb'], null);
    expect(get.status).not.toBe(0);
    expect(get.stderr).toMatch(/truncated or damaged/);
    expect(input.subarray(0, get.stdout.length).equals(get.stdout)).toBe(true);
  });

  it('falls back to gzip on a host without zstd, and refuses to restore a zstd object there (clearly, before any output)', () => {
    const noZstd = { PATH: pathWithoutZstd() };
    const put = helper(['put', 'z/fallback.xb', '0'], input, noZstd);
    expect(put.status).toBe(0);
    expect(JSON.parse(put.stdout.toString('utf8'))).toMatchObject({ compression: 'gzip' });
    expect(helper(['get', 'z/fallback.xb'], null, noZstd).stdout.equals(input)).toBe(true);

    expect(helper(['put', 'z/needs-zstd.xb', '0'], input).status).toBe(0);
    const get = helper(['get', 'z/needs-zstd.xb'], null, noZstd);
    expect(get.status).toBe(2);
    expect(get.stderr).toMatch(/zstd command is not installed/);
    expect(get.stdout.length).toBe(0);
    const forced = helper(['put', 'z/forced.xb', '0'], input, { ...noZstd, RESEED_COMPRESSION: 'zstd' });
    expect(forced.status).toBe(2);
    expect(forced.stderr).toMatch(/zstd command is not installed/);
  });

  it('leaves no object behind when the compressor fails (the upload is aborted, never completed)', async () => {
    const local = helper(['put', 'z/failed.xb', '0'], input, { RESEED_ZSTD_LEVEL: '42' });
    expect(local.status).toBe(2);
    expect(local.stderr).toMatch(/RESEED_ZSTD_LEVEL must be 1 to 19/);
    expect(
      readdirSync(join(store, 'z')).filter((f) => f.startsWith('failed.xb') && !f.endsWith('.json')),
    ).toEqual([]);
    const remote = helper(['put', 'failed.xb', '0'], input, { ...s3Env(), RESEED_ZSTD_LEVEL: '42' });
    expect(remote.status).toBe(2);
    const object = openObjectStore(`s3://${s3.bucket}/backups`, s3.storeOptions);
    expect(await object.head('failed.xb')).toBeUndefined();
  });

  it('refuses an unknown compression setting', () => {
    const put = helper(['put', 'z/bad.xb', '0'], input, { RESEED_COMPRESSION: 'lz4' });
    expect(put.status).toBe(2);
    expect(put.stderr).toMatch(/RESEED_COMPRESSION must be auto, zstd or gzip/);
  });
});
