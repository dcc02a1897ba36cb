import { describe, expect, it } from 'vitest';
import { discoverRouters } from '../../../functions/cluster/discovery.js';
import { parseConfig } from '../../../functions/config/schema.js';
import { UsageError } from '../../../functions/errors.js';
import {
  formatGroupResult,
  localRouterSwitchFromConfig,
  planDestinations,
  routersStatusCommand,
  routersSwitchCommand,
} from '../../../functions/routers/cli.js';
import { groupOutcome } from '../../../functions/routers/result.js';
import { ssmTargetsFromConfig } from '../../../functions/routers/ssm-from-config.js';
import type {
  GroupSwitchResult,
  RouterResult,
  RouterSwitch,
  RouterSwitchRequest,
} from '../../../functions/routers/types.js';

const config = parseConfig(
  {
    clusterName: 'prod',
    servers: ['10.0.1.11:3306', '10.0.1.12:3306', '10.0.1.13:3306'],
    groups: [
      {
        name: 'web',
        routerKind: 'haproxy',
        routers: [{ address: '127.0.0.1:7001', configPath: '/etc/haproxy/haproxy.cfg' }],
      },
      {
        name: 'api',
        routerKind: 'mysqlrouter',
        ec2Tag: { key: 'mysql-failover-group', value: 'api' },
        routerPort: 6446,
        configPath: '/etc/mysqlrouter/mysqlrouter.conf',
      },
    ],
    credentials: { watchdog: { user: 'watchdog', password: 's3cret' } },
  },
  'test',
);

/** Records what the command asks for; answers like a router set that switched. */
class RecordingRouterSwitch implements RouterSwitch {
  readonly calls: { group: string; request?: RouterSwitchRequest }[] = [];
  constructor(private readonly routerOk = true) {}

  private answer(
    group: string,
    action: 'switch' | 'status',
    request: RouterSwitchRequest,
  ): GroupSwitchResult {
    const routers: RouterResult[] = [
      {
        target: '127.0.0.1:7001',
        ok: this.routerOk,
        outcome: this.routerOk ? (action === 'status' ? 'status' : 'switched') : 'failed',
        attempts: this.routerOk ? 1 : 2,
        exitCode: this.routerOk ? 0 : 5,
        result: null,
        error: this.routerOk
          ? undefined
          : 'verification failed; the previous config was restored and applied',
      },
    ];
    return {
      group,
      action,
      ...groupOutcome(action, routers),
      destinations: [...request.destinations],
      fenced: [...(request.fenced ?? [])],
      dryRun: request.dryRun,
      routers,
      commandIds: [],
      message: 'recorded',
      durationMs: 1,
    };
  }

  async switch(group: string, request: RouterSwitchRequest) {
    this.calls.push({ group, request });
    return this.answer(group, 'switch', request);
  }

  async status(group: string) {
    this.calls.push({ group });
    return this.answer(group, 'status', { destinations: [], dryRun: false });
  }
}

describe('routers CLI helpers', () => {
  it('puts the new primary first and keeps the other unfenced servers as fallbacks, in config order', () => {
    const servers = ['10.0.1.11:3306', '10.0.1.12:3306', '10.0.1.13:3306'];
    expect(planDestinations(servers, '10.0.1.12:3306', ['10.0.1.11:3306'])).toEqual([
      '10.0.1.12:3306',
      '10.0.1.13:3306',
    ]);
    expect(planDestinations(servers, '10.0.1.13:3306')).toEqual([
      '10.0.1.13:3306',
      '10.0.1.11:3306',
      '10.0.1.12:3306',
    ]);
    expect(() => planDestinations(servers, '10.0.1.11:3306', ['10.0.1.11:3306'])).toThrow(UsageError);
  });

  it('switches a group to a configured server and prints the outcome', async () => {
    const routers = new RecordingRouterSwitch();
    const printed = await routersSwitchCommand(config, routers, {
      group: 'web',
      to: '10.0.1.12:3306',
      fence: ['10.0.1.11:3306'],
      dryRun: true,
    });
    expect(routers.calls).toEqual([
      {
        group: 'web',
        request: {
          destinations: ['10.0.1.12:3306', '10.0.1.13:3306'],
          fenced: ['10.0.1.11:3306'],
          dryRun: true,
        },
      },
    ]);
    expect(printed.exitCode).toBe(0);
    expect(printed.text).toContain('web: switched');
  });

  it('refuses an unknown target or group before touching any router', async () => {
    const routers = new RecordingRouterSwitch();
    await expect(
      routersSwitchCommand(config, routers, { group: 'web', to: '10.9.9.9:3306' }),
    ).rejects.toThrow(UsageError);
    await expect(
      routersSwitchCommand(config, routers, { group: 'nope', to: '10.0.1.12:3306' }),
    ).rejects.toThrow(UsageError);
    expect(routers.calls).toEqual([]);
  });

  it('exits non-zero and shows the ALARM when a router is left behind', async () => {
    const printed = await routersSwitchCommand(config, new RecordingRouterSwitch(false), {
      group: 'web',
      to: '10.0.1.12:3306',
    });
    expect(printed.exitCode).toBe(1);
    expect(printed.text).toContain('web: failed (ALARM)');
    expect(printed.text).toContain('127.0.0.1:7001: failed (after retry) - verification failed');
  });

  it('reads the status of every group when none is named', async () => {
    const routers = new RecordingRouterSwitch();
    const printed = await routersStatusCommand(config, routers);
    expect(routers.calls.map((c) => c.group)).toEqual(['web', 'api']);
    expect(printed.results.map((r) => r.outcome)).toEqual(['status', 'status']);
    expect(formatGroupResult(printed.results[0]!)).toContain('web: status');
  });

  it('targets SSM at the instances found by tag in this run, with the router port to verify through', async () => {
    const { config: discovered } = await discoverRouters(config, async () => [
      { instanceId: 'i-0bbbbbbbbbbbbbbbb', privateIp: '10.0.3.12' },
      { instanceId: 'i-0aaaaaaaaaaaaaaaa', privateIp: '10.0.3.11' },
    ]);
    expect(
      ssmTargetsFromConfig(discovered, { verifyDefaultsFile: '/etc/mysql-failover/router-verify.cnf' }),
    ).toEqual({
      api: {
        routerKind: 'mysqlrouter',
        configPath: '/etc/mysqlrouter/mysqlrouter.conf',
        section: 'mysql_failover',
        instanceIds: ['i-0aaaaaaaaaaaaaaaa', 'i-0bbbbbbbbbbbbbbbb'],
        verifyAddress: '127.0.0.1:6446',
        verifyDefaultsFile: '/etc/mysql-failover/router-verify.cnf',
        applyMode: undefined,
      },
      web: {
        routerKind: 'haproxy',
        configPath: '/etc/haproxy/haproxy.cfg',
        section: 'mysql_failover',
        instanceIds: [],
        verifyAddress: undefined,
        verifyDefaultsFile: '/etc/mysql-failover/router-verify.cnf',
        applyMode: undefined,
      },
    });
  });

  it('builds a local router switch that verifies through each router with the watchdog login', () => {
    const local = localRouterSwitchFromConfig(config, { backupDir: '/tmp/backups' }) as unknown as {
      options: { groups: Record<string, unknown[]> };
    };
    expect(local.options.groups.web).toEqual([
      expect.objectContaining({
        id: '127.0.0.1:7001',
        routerKind: 'haproxy',
        configPath: '/etc/haproxy/haproxy.cfg',
        verifyAddress: '127.0.0.1:7001',
        verifyUser: 'watchdog',
        verifyPassword: 's3cret',
        backupDir: '/tmp/backups',
      }),
    ]);
    expect(local.options.groups.api).toEqual([]);
  });
});

describe('group outcome', () => {
  const router = (ok: boolean, outcome: RouterResult['outcome']): RouterResult => ({
    target: 't',
    ok,
    outcome,
    attempts: 1,
    exitCode: ok ? 0 : 5,
    result: null,
  });

  it('is switched only when every router is, and raises the alarm otherwise', () => {
    expect(groupOutcome('switch', [router(true, 'switched'), router(true, 'unchanged')])).toEqual({
      outcome: 'switched',
      alarm: false,
    });
    expect(groupOutcome('switch', [router(true, 'unchanged')])).toEqual({
      outcome: 'unchanged',
      alarm: false,
    });
    expect(groupOutcome('switch', [router(true, 'dry-run')])).toEqual({ outcome: 'dry-run', alarm: false });
    expect(groupOutcome('switch', [router(true, 'switched'), router(false, 'failed')])).toEqual({
      outcome: 'partial',
      alarm: true,
    });
    expect(groupOutcome('switch', [router(false, 'needs-human')])).toEqual({
      outcome: 'failed',
      alarm: true,
    });
    expect(groupOutcome('switch', [])).toEqual({ outcome: 'no-targets', alarm: true });
  });
});
