/**
 * The local hosts a physical reseed runs on in tests and benchmarks: each harness server's datadir,
 * socket and a work folder as the host's settings, and the harness itself as the service hook (the
 * script asks it to stop the server and to start it read-only).
 */
import { join } from 'node:path';
import { type LocalHost, LocalHostCommands } from '../../functions/operations/physical/local-commands.js';
import type { ServerHandle } from '../../functions/sandbox/harness/index.js';
import type { LocalS3 } from './s3rver.js';

export function physicalHosts(
  servers: readonly ServerHandle[],
  options: { store: string; workDir: string; s3?: LocalS3; settings?: Record<string, string> },
): LocalHostCommands {
  const hosts = new Map<string, LocalHost>();
  for (const server of servers) {
    hosts.set(server.address, {
      settings: {
        RESEED_STORE: options.store,
        RESEED_DATADIR: server.dataDir,
        RESEED_WORK_DIR: join(options.workDir, server.name),
        RESEED_SOCKET: server.socketPath,
        RESEED_USER: 'root',
        RESEED_NO_DEFAULTS: '1',
        ...(options.s3 ? { RESEED_S3_ENDPOINT: options.s3.endpoint } : {}),
        ...options.settings,
      },
      service: {
        stop: () => server.stop(),
        startReadOnly: () => server.start(120_000, { readOnly: true, skipSlaveStart: true }),
      },
    });
  }
  const env: Record<string, string> = options.s3
    ? {
        AWS_ACCESS_KEY_ID: options.s3.storeOptions.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: options.s3.storeOptions.credentials.secretAccessKey,
        AWS_REGION: options.s3.storeOptions.region,
      }
    : {};
  return new LocalHostCommands({ hosts, env });
}
