import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../functions/config/schema.js';
import { ConfigError } from '../../../functions/errors.js';

const base = {
  clusterName: 'prod',
  servers: ['10.0.1.11:3306', '10.0.1.12:3306'],
  credentials: { watchdog: { user: 'watchdog', password: 's3cret' } },
};

function problems(groups: unknown[]): string[] {
  try {
    parseConfig({ ...base, groups }, 'test');
  } catch (error) {
    if (error instanceof ConfigError) return (error.details as { problems: string[] }).problems;
    throw error;
  }
  return [];
}

describe('router paths in the config (finding 10)', () => {
  it('refuses at load, naming the key, a path the router document would refuse at switch time', () => {
    const ssmGroup = {
      name: 'web',
      routerKind: 'haproxy',
      ec2Tag: { key: 'group', value: 'web' },
      routerPort: 7001,
    };
    for (const configPath of [
      '/etc/haproxy/../../tmp/x.cfg',
      '/etc/haproxy//haproxy.cfg',
      '/etc/haproxy/.h.cfg',
    ]) {
      const found = problems([{ ...ssmGroup, configPath }]);
      expect(found.join('\n'), configPath).toMatch(/^groups\.0\.configPath: must be a plain absolute path/m);
    }
    expect(problems([{ ...ssmGroup, configPath: '/tmp/haproxy.cfg' }]).join('\n')).toMatch(
      /^groups\.0\.configPath: must be in one of the folders the router document allows/m,
    );
    const byInstance = {
      name: 'api',
      routerKind: 'mysqlrouter',
      routers: [
        {
          address: '10.0.2.1:7001',
          instanceId: 'i-0123456789abcdef0',
          configPath: '/opt/mr/mysqlrouter.conf',
        },
      ],
    };
    expect(problems([byInstance]).join('\n')).toMatch(
      /^groups\.0\.routers\.0\.configPath: must be in one of the folders/m,
    );
    expect(problems([{ ...ssmGroup, configPath: '/etc/haproxy/haproxy.cfg' }])).toEqual([]);
  });

  it('allows any plain path for routers run on this host (sandbox, CLI)', () => {
    const local = {
      name: 'local',
      routerKind: 'haproxy',
      routers: [{ address: '127.0.0.1:7001', configPath: '/tmp/mysql-failover-harness/x/haproxy.cfg' }],
    };
    expect(problems([local])).toEqual([]);
    const dotted = {
      ...local,
      routers: [{ address: '127.0.0.1:7001', configPath: '/tmp/x/../haproxy.cfg' }],
    };
    expect(problems([dotted]).join('\n')).toMatch(
      /^groups\.0\.routers\.0\.configPath: must be a plain absolute path/m,
    );
  });
});
