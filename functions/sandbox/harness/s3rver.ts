import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real local S3 endpoint (s3rver, from npm) in its own process, so tests and benchmarks exercise the
 * same HTTP code path as AWS (multipart upload, listing, ranged reads) and the endpoint's memory and CPU
 * are not counted as ours.
 */
export interface LocalS3 {
  endpoint: string;
  bucket: string;
  directory: string;
  /** Pid of the s3rver process, for leak checks. */
  pid: number;
  /** Options for openObjectStore / S3ObjectStore pointing at this endpoint. */
  storeOptions: {
    endpoint: string;
    forcePathStyle: true;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
  };
  stop(): Promise<void>;
}

const require = createRequire(import.meta.url);

const CHILD = `
const S3rver = require(process.env.S3RVER_MAIN);
const server = new S3rver({
  address: '127.0.0.1', port: 0, silent: true, directory: process.env.S3RVER_DIR,
  configureBuckets: [{ name: process.env.S3RVER_BUCKET }],
});
server.run().then((addr) => { process.stdout.write(JSON.stringify({ port: addr.port }) + '\\n'); });
process.on('SIGTERM', () => server.close().finally(() => process.exit(0)));
`;

export async function startLocalS3(options: { bucket?: string } = {}): Promise<LocalS3> {
  const bucket = options.bucket ?? 'dumps';
  const directory = await mkdtemp(join(tmpdir(), 's3rver-'));
  const child: ChildProcess = spawn(process.execPath, ['-e', CHILD], {
    env: {
      ...process.env,
      S3RVER_MAIN: require.resolve('s3rver'),
      S3RVER_DIR: directory,
      S3RVER_BUCKET: bucket,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    // Generous: starting node and loading s3rver takes seconds on a loaded 2-core machine.
    const timer = setTimeout(() => reject(new Error('s3rver did not start within 120 s')), 120_000);
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const line = buf.split('\n')[0];
      if (buf.includes('\n') && line) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { port: number }).port);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with code ${code}`));
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    bucket,
    directory,
    pid: child.pid ?? -1,
    storeOptions: {
      endpoint,
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(directory, { recursive: true, force: true });
    },
  };
}
