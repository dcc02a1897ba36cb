/**
 * A stand-in of an EC2 instance's metadata service, IMDSv2 only (every read needs the session token
 * the PUT hands out): the region, the instance id and the instance role's temporary credentials, which
 * is all the backend watcher (infra/watcher/watcher.sh) asks it for. One per stand-in instance.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ImdsStandIn {
  url: string;
  /** Reads refused for a missing or wrong session token. */
  readonly tokensRefused: number;
  stop(): Promise<void>;
}

export async function startImds(options: {
  region: string;
  instanceId: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken: string };
  roleName?: string;
}): Promise<ImdsStandIn> {
  const state = { tokensRefused: 0 };
  const token = `imds-session-token-${options.instanceId}`;
  const role = options.roleName ?? 'backend-role';
  const server = createServer((req, res) => {
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      res.end(token);
      return;
    }
    if (req.headers['x-aws-ec2-metadata-token'] !== token) {
      state.tokensRefused++;
      res.writeHead(401).end();
      return;
    }
    const answers: Record<string, string> = {
      '/latest/meta-data/placement/region': options.region,
      '/latest/meta-data/instance-id': options.instanceId,
      '/latest/meta-data/iam/security-credentials/': role,
      [`/latest/meta-data/iam/security-credentials/${role}`]: JSON.stringify({
        Code: 'Success',
        Type: 'AWS-HMAC',
        AccessKeyId: options.credentials.accessKeyId,
        SecretAccessKey: options.credentials.secretAccessKey,
        Token: options.credentials.sessionToken,
        Expiration: new Date(Date.now() + 6 * 3600_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      }),
    };
    const body = answers[req.url ?? ''];
    if (body === undefined) res.writeHead(404).end();
    else res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get tokensRefused() {
      return state.tokensRefused;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
