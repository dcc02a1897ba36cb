import { GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { maskSecrets } from '../../../functions/config/mask.js';
import { parseConfig } from '../../../functions/config/schema.js';
import { loadConfig } from '../../../functions/config/sources.js';
import { ConfigError } from '../../../functions/errors.js';

const SECRET = 'hunter2-Secret-Value';
const base = {
  clusterName: 'prod',
  servers: ['10.0.1.11:3306', '10.0.1.12:3306'],
  groups: [{ name: 'g1', routerKind: 'haproxy', routers: ['10.0.2.1:7001'] }],
  credentials: { watchdog: { user: 'watchdog', password: SECRET } },
};

/** Everything a ConfigError shows: message, details, and its causes' messages. */
function shown(error: unknown): string {
  const parts: string[] = [];
  let e: unknown = error;
  while (e instanceof Error) {
    parts.push(e.message, JSON.stringify((e as { details?: unknown }).details ?? null), String(e.stack));
    e = e.cause;
  }
  return parts.join('\n');
}

async function failure(fn: () => unknown): Promise<ConfigError> {
  try {
    await fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

const ssm = mockClient(SSMClient);
afterEach(() => ssm.reset());

describe('secrets in configuration errors (finding 9)', () => {
  it('masks the whole credentials subtree when a parent key is wrong', async () => {
    const error = await failure(() =>
      parseConfig({ ...base, credentials: { watchdog: `watchdog:${SECRET}` } }, 'test'),
    );
    expect(error.message).toContain('credentials.watchdog');
    expect(shown(error)).not.toContain(SECRET);
    const list = await failure(() => parseConfig({ ...base, credentials: [`watchdog:${SECRET}`] }, 'test'));
    expect(shown(list)).not.toContain(SECRET);
  });

  it('masks the password of a URL written where a server belongs', async () => {
    const error = await failure(() =>
      parseConfig({ ...base, servers: [`mysql://admin:${SECRET}@10.0.1.11:3306`, '10.0.1.12:3306'] }, 'test'),
    );
    expect(error.message).toContain('servers.0');
    expect(shown(error)).not.toContain(SECRET);
  });

  it('never quotes a YAML or JSON document that does not parse (MF_CONFIG)', async () => {
    const yaml = `clusterName: prod\ncredentials:\n  watchdog: {user: watchdog, password: ${SECRET}\n  broken: [\n`;
    const error = await failure(() => loadConfig({ env: { MF_CONFIG: yaml } }));
    expect(error.message).toMatch(/cannot parse environment variable MF_CONFIG: .* at line \d+, column \d+/);
    expect(shown(error)).not.toContain(SECRET);
    const json = `{"clusterName": "prod", "credentials": {"watchdog": {"password": "${SECRET}" ]}}`;
    const second = await failure(() => loadConfig({ env: { MF_CONFIG: json } }));
    expect(shown(second)).not.toContain(SECRET);
  });

  it('keeps an SSM password that starts with [ or { a string, and never shows a broken one', async () => {
    const page = (parameters: { Name: string; Value: string }[]) =>
      ssm.on(GetParametersByPathCommand).resolves({ Parameters: parameters });
    const config = { ...base, credentials: undefined };
    page([
      { Name: '/mf/prod/config', Value: JSON.stringify(config) },
      { Name: '/mf/prod/credentials/watchdog/user', Value: 'watchdog' },
      { Name: '/mf/prod/credentials/watchdog/password', Value: `[${SECRET}` },
    ]);
    const loaded = await loadConfig({
      env: { CONFIG_SSM_PATH: '/mf/prod' },
      ssm: () => new SSMClient({ region: 'eu-west-1' }),
    });
    expect(loaded.credentials.watchdog).toEqual({ user: 'watchdog', password: `[${SECRET}` });
    ssm.reset();
    page([
      { Name: '/mf/prod/config', Value: JSON.stringify(config) },
      { Name: '/mf/prod/credentials/watchdog', Value: `{"user": "watchdog", "password": "${SECRET}"` },
    ]);
    const error = await failure(() =>
      loadConfig({ env: { CONFIG_SSM_PATH: '/mf/prod' }, ssm: () => new SSMClient({ region: 'eu-west-1' }) }),
    );
    expect(error.message).toContain('/mf/prod/credentials/watchdog');
    expect(shown(error)).not.toContain(SECRET);
  });

  it('masks secret-like keys anywhere and URL passwords in any string', () => {
    expect(
      maskSecrets({
        credentials: { watchdog: { user: 'w', password: SECRET } },
        objectStore: { url: `s3://k:${SECRET}@b/p`, apiToken: SECRET },
      }),
    ).toEqual({ credentials: '***', objectStore: { url: 's3://***@b/p', apiToken: '***' } });
  });
});
