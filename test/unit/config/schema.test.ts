import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../functions/config/schema.js';
import { loadConfig } from '../../../functions/config/sources.js';
import { ConfigError } from '../../../functions/errors.js';

const minimal = {
  clusterName: 'prod',
  servers: ['10.0.1.11:3306', { host: '10.0.1.12', port: 3307, replicationHost: 'db-b.internal' }],
  groups: [{ name: 'g1', routerKind: 'haproxy', routers: ['10.0.2.1:7001'] }],
  credentials: { watchdog: { user: 'watchdog', password: 's3cret' } },
};

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('accepts host:port strings and objects and fills defaults', () => {
    const config = parseConfig(minimal, 'test');
    expect(config.servers.map((s) => s.id)).toEqual(['10.0.1.11:3306', '10.0.1.12:3307']);
    expect(config.servers[1]).toMatchObject({ replicationHost: 'db-b.internal', replicationPort: 3307 });
    expect(config.groups[0]).toMatchObject({ section: 'mysql_failover', routers: [{ id: '10.0.2.1:7001' }] });
    expect(config.antiFlapSeconds).toBe(3600);
    expect(config.timeouts.connectMs).toBe(2000);
    expect(config.splitBrainPolicy).toBe('alert-only');
  });

  it('names the key and the value of every problem', () => {
    const error = errorOf(() =>
      parseConfig(
        { ...minimal, servers: ['db1;rm -rf /:3306', '10.0.0.2:99999'], antiFlapSeconds: 'soon' },
        'file x',
      ),
    );
    expect(error.message).toContain('from file x');
    expect(error.message).toMatch(
      /servers\.0: invalid address, expected host:port \(host must be a host name or IP address.*got "db1;rm -rf \/:3306"/,
    );
    expect(error.message).toMatch(
      /servers\.1: invalid address, expected host:port \(port .*got "10.0.0.2:99999"/,
    );
    expect(error.message).toMatch(/antiFlapSeconds: .*got "soon"/);
  });

  it('reports a missing key as missing', () => {
    const { clusterName: _omit, ...rest } = minimal;
    expect(errorOf(() => parseConfig(rest, 'env')).message).toMatch(/clusterName: .*\(got missing\)/);
  });

  it('never prints a password in an error', () => {
    const error = errorOf(() =>
      parseConfig({ ...minimal, credentials: { watchdog: { user: '', password: 12345678 } } }, 'f'),
    );
    expect(error.message).toContain('credentials.watchdog.password');
    expect(error.message).not.toContain('12345678');
  });

  it('refuses a primary that is not a configured server, and duplicate groups', () => {
    const error = errorOf(() =>
      parseConfig(
        { ...minimal, primary: '10.9.9.9:3306', groups: [minimal.groups[0], minimal.groups[0]] },
        'f',
      ),
    );
    expect(error.message).toContain('primary: "10.9.9.9:3306" is not one of the servers');
    expect(error.message).toContain('groups.1.name: duplicate g1');
  });

  it('refuses hostile router config paths and unknown router kinds', () => {
    const error = errorOf(() =>
      parseConfig(
        {
          ...minimal,
          groups: [
            {
              name: 'g1',
              routerKind: 'nginx',
              routers: [{ address: '10.0.2.1:7001', configPath: '/etc/$(id)' }],
            },
          ],
        },
        'f',
      ),
    );
    expect(error.message).toContain('groups.0.routerKind');
    expect(error.message).toContain('groups.0.routers.0.configPath');
  });

  it('needs routers or an EC2 tag for each group', () => {
    expect(
      errorOf(() => parseConfig({ ...minimal, groups: [{ name: 'g1', routerKind: 'mysqlrouter' }] }, 'f'))
        .message,
    ).toContain('groups.0.routers: needs "routers" or "ec2Tag"');
    const config = parseConfig(
      {
        ...minimal,
        groups: [
          {
            name: 'g1',
            routerKind: 'mysqlrouter',
            ec2Tag: { key: 'db-group', value: 'g1' },
            routerPort: 6446,
          },
        ],
      },
      'f',
    );
    expect(config.groups[0]?.ec2Tag).toEqual({ key: 'db-group', value: 'g1' });
  });
});

describe('loadConfig', () => {
  it('reads a YAML file and lets environment variables override it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-config-'));
    const file = join(dir, 'config.yml');
    writeFileSync(
      file,
      'clusterName: prod\nservers: [10.0.1.11:3306, 10.0.1.12:3306]\ngroups:\n  - name: g1\n    routerKind: mysqlrouter\n    routers: [10.0.2.1:6446]\n',
    );
    const config = await loadConfig({
      env: { MF_DB_USER: 'watchdog', MF_DB_PASSWORD: 'pw', MF_ANTI_FLAP_SECONDS: '60' },
      file,
    });
    expect(config.clusterName).toBe('prod');
    expect(config.antiFlapSeconds).toBe(60);
    expect(config.credentials.watchdog).toEqual({ user: 'watchdog', password: 'pw' });
  });

  it('reads an SSM parameter path (paginated) and the credentials from Secrets Manager', async () => {
    const ssm = mockClient(SSMClient);
    ssm
      .on(GetParametersByPathCommand, { Path: '/mf/prod', NextToken: undefined })
      .resolves({
        Parameters: [
          { Name: '/mf/prod/config', Value: JSON.stringify({ ...minimal, credentials: undefined }) },
        ],
        NextToken: 'page2',
      })
      .on(GetParametersByPathCommand, { Path: '/mf/prod', NextToken: 'page2' })
      .resolves({ Parameters: [{ Name: '/mf/prod/antiFlapSeconds', Value: '120' }] });
    const secrets = mockClient(SecretsManagerClient);
    secrets
      .on(GetSecretValueCommand, { SecretId: 'arn:db' })
      .resolves({ SecretString: JSON.stringify({ username: 'wd', password: 'from-secret' }) });
    const config = await loadConfig({
      env: { CONFIG_SSM_PATH: '/mf/prod', DB_SECRET_ARN: 'arn:db' },
      ssm: () => new SSMClient({ region: 'eu-west-1' }),
      secrets: () => new SecretsManagerClient({ region: 'eu-west-1' }),
    });
    expect(config.antiFlapSeconds).toBe(120);
    expect(config.credentials.watchdog).toEqual({ user: 'wd', password: 'from-secret' });
    expect(ssm.commandCalls(GetParametersByPathCommand)[0]?.args[0].input).toMatchObject({
      Recursive: true,
      WithDecryption: true,
    });
    ssm.restore();
    secrets.restore();
  });

  it('refuses a secret that is not {"username","password"}', async () => {
    const secrets = mockClient(SecretsManagerClient);
    secrets.on(GetSecretValueCommand).resolves({ SecretString: '{"user":"x"}' });
    await expect(
      loadConfig({
        env: { MF_CONFIG: JSON.stringify(minimal), DB_SECRET_ARN: 'arn:db' },
        secrets: () => new SecretsManagerClient({ region: 'eu-west-1' }),
      }),
    ).rejects.toThrow(/secret arn:db must hold JSON \{"username": string, "password": string\}/);
    secrets.restore();
  });

  it('says where configuration can come from when none is given', async () => {
    await expect(loadConfig({ env: {} })).rejects.toThrow(/no configuration: pass --config FILE/);
  });

  it('refuses a config without watchdog credentials', async () => {
    await expect(
      loadConfig({ env: { MF_CONFIG: JSON.stringify({ ...minimal, credentials: {} }) } }),
    ).rejects.toThrow(/credentials.watchdog: missing/);
  });
});
