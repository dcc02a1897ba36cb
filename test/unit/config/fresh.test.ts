import { describe, expect, it } from 'vitest';
import { type Config, parseConfig } from '../../../functions/config/schema.js';
import { CachedConfig, loadConfig } from '../../../functions/config/sources.js';
import { ConfigError } from '../../../functions/errors.js';

function config(password: string): Config {
  return parseConfig(
    {
      clusterName: 'shop',
      servers: ['10.0.1.10:3306', '10.0.2.10:3306'],
      groups: [{ name: 'web', routerKind: 'haproxy', routers: ['10.0.3.11:3307'] }],
      credentials: { watchdog: { user: 'watchdog', password } },
    },
    'test',
  );
}

describe('configuration kept with a maximum age', () => {
  it('reads again once the age is reached, so a rotated password is picked up within it', async () => {
    let now = 0;
    let password = 'first';
    let loads = 0;
    const cached = new CachedConfig(
      async () => {
        loads++;
        return config(password);
      },
      60_000,
      () => now,
    );
    expect((await cached.get()).fresh).toBe(true);
    password = 'rotated';
    now = 59_999;
    const warm = await cached.get();
    expect(warm).toMatchObject({ fresh: false });
    expect(warm.config.credentials.watchdog?.password).toBe('first');
    now = 60_000;
    const again = await cached.get();
    expect(again.fresh).toBe(true);
    expect(again.config.credentials.watchdog?.password).toBe('rotated');
    expect(loads).toBe(2);
  });

  it('reads again at once after invalidate (an authentication failure), and never keeps a failed read', async () => {
    let fail = true;
    const cached = new CachedConfig(async () => {
      if (fail) throw new ConfigError('cannot read secret db');
      return config('pw');
    }, 60_000);
    await expect(cached.get()).rejects.toThrow('cannot read secret db');
    fail = false;
    expect((await cached.get()).fresh).toBe(true);
    expect((await cached.get()).fresh).toBe(false);
    cached.invalidate();
    expect((await cached.get()).fresh).toBe(true);
  });
});

describe('a configuration the function cannot switch through SSM is refused when loaded', () => {
  const doc = (groups: unknown[]) =>
    JSON.stringify({
      clusterName: 'shop',
      servers: ['10.0.1.10:3306', '10.0.2.10:3306'],
      groups,
      credentials: { watchdog: { user: 'w', password: 'p' } },
    });

  it('names router addresses without an instance id, and a group without a router config file', async () => {
    const error = await loadConfig({
      env: {
        ROUTER_DOCUMENT: 'shop-RouterSwitch',
        MF_CONFIG: doc([
          {
            name: 'web',
            routerKind: 'mysqlrouter',
            ec2Tag: { key: 'mysql-failover-group', value: 'web' },
            routerPort: 7001,
            configPath: '/etc/mysqlrouter/mysqlrouter.conf',
          },
          { name: 'api', routerKind: 'haproxy', routers: ['10.0.4.4:3307'] },
        ]),
      },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('groups.1.routers.0.instanceId');
    expect((error as Error).message).toContain('groups.1.configPath');
    expect((error as Error).message).not.toContain('groups.0');
  });

  it('names a tag group without routerPort, and a tag group that also lists routers', async () => {
    const error = await loadConfig({
      env: {
        MF_CONFIG: doc([
          { name: 'web', routerKind: 'mysqlrouter', ec2Tag: { key: 'k', value: 'web' } },
          {
            name: 'api',
            routerKind: 'haproxy',
            ec2Tag: { key: 'k', value: 'api' },
            routerPort: 3307,
            routers: ['10.0.4.4:3307'],
          },
        ]),
      },
    }).catch((e: unknown) => e);
    expect((error as Error).message).toContain('groups.0.routerPort: is required with "ec2Tag"');
    expect((error as Error).message).toContain('groups.1.routers: must be left out with "ec2Tag"');
  });

  it('accepts the same configuration for a local run (no SSM document)', async () => {
    const ok = await loadConfig({
      env: { MF_CONFIG: doc([{ name: 'api', routerKind: 'haproxy', routers: ['10.0.4.4:3307'] }]) },
    });
    expect(ok.groups[0]!.routers[0]!.id).toBe('10.0.4.4:3307');
  });
});
