/**
 * Every AWS call has a request timeout that ends it, and the run's abort signal: an endpoint that accepts the request and never
 * answers must not hold a run until the Lambda deadline. The SDK's HTTP handler only logs a warning
 * when `requestTimeout` passes unless it is told to throw; the object store's S3 client is built with
 * the same options as the others. A real HTTP server that never answers, the real SDK clients.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsClientOptions } from '../../../functions/aws/client-options.js';
import { GetParametersByPathCommand, SSMClient } from '../../../functions/aws/ssm.js';
import { StorageError } from '../../../functions/errors.js';
import { S3ObjectStore } from '../../../functions/storage/s3-store.js';

let server: Server;
let endpoint: string;
const held: ServerResponse[] = [];
let received = 0;

beforeAll(async () => {
  server = createServer((_req: IncomingMessage, res: ServerResponse) => {
    received++;
    held.push(res); // accepted, never answered
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  for (const res of held) res.destroy();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

const env = { AWS_REQUEST_TIMEOUT_MS: '300', AWS_CONNECT_TIMEOUT_MS: '300', AWS_MAX_ATTEMPTS: '1' };
const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };

/** The outcome of `call`, or 'still waiting' when it has not ended long after its timeout. */
async function outcome(call: Promise<unknown>): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise((r) => {
    timer = setTimeout(() => r('still waiting'), 60_000);
  });
  try {
    return await Promise.race([
      call.then(
        () => 'answered',
        (e: unknown) => e,
      ),
      waited,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe('an AWS endpoint that accepts a request and never answers', () => {
  it('ends an SSM call built with the watchdog client options with a timeout error', async () => {
    const client = new SSMClient({ ...awsClientOptions(env), endpoint, region: 'eu-west-1', credentials });
    const before = received;
    const result = await outcome(
      client.send(new GetParametersByPathCommand({ Path: '/mysql-failover/shop' })),
    );
    client.destroy();
    expect(received).toBeGreaterThan(before);
    expect(result).toMatchObject({ name: 'TimeoutError' });
  }, 90_000);

  it("ends an object store call (the S3 client's own options) with a StorageError", async () => {
    const store = new S3ObjectStore({
      bucket: 'dumps',
      prefix: 'shop',
      endpoint,
      credentials,
      aws: awsClientOptions(env),
    });
    const result = await outcome(store.list('operations/'));
    expect(result).toBeInstanceOf(StorageError);
    expect(String((result as Error).cause)).toMatch(/requestTimeout|TimeoutError/);
  }, 90_000);

  it("ends every object store call when the run's signal aborts (HeadObject, ListObjectsV2, DeleteObject too)", async () => {
    const run = new AbortController();
    const slow = awsClientOptions({ ...env, AWS_REQUEST_TIMEOUT_MS: '600000' });
    const store = new S3ObjectStore({
      bucket: 'dumps',
      prefix: 'shop',
      endpoint,
      credentials,
      aws: slow,
      signal: run.signal,
    });
    const before = received;
    const calls = [
      store.head('operations/x.json'),
      store.list('operations/'),
      store.delete('requests/y.json'),
    ];
    // Every call has reached the endpoint (and waits for an answer that never comes).
    for (let i = 0; i < 600 && received < before + calls.length; i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(received).toBe(before + calls.length);
    run.abort(new Error('deadline'));
    const results = await Promise.all(calls.map((c) => outcome(c)));
    for (const r of results) {
      expect(r).toBeInstanceOf(StorageError);
      expect(String((r as Error).cause)).toMatch(/abort/i);
    }
  }, 120_000);
});
