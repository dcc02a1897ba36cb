import {
  type CommandInvocation,
  type CommandInvocationStatus,
  type CommandPluginStatus,
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  ListCommandsCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../../functions/errors.js';
import type { ScriptResult } from '../../../functions/routers/result.js';
import { SsmRouterSwitch, type SsmRouterSwitchOptions } from '../../../functions/routers/ssm.js';
import type { GroupSwitchResult } from '../../../functions/routers/types.js';

const ssm = mockClient(SSMClient);

function resultLine(overrides: Partial<ScriptResult> = {}): string {
  const result: ScriptResult = {
    schema: 'router-switch/1',
    ok: true,
    action: 'switch',
    kind: 'haproxy',
    host: 'backend-1',
    config: '/etc/haproxy/haproxy.cfg',
    section: 'mysql_failover',
    dryRun: false,
    changed: true,
    alreadyInPlace: false,
    validated: true,
    applied: 'systemd',
    backup: '/var/backups/mysql-failover/haproxy.cfg.bak',
    previous: ['10.0.0.11:3306', '10.0.0.12:3306'],
    destinations: ['10.0.0.12:3306'],
    fenced: ['10.0.0.11:3306'],
    runtime: ['maint mysql_failover/db1'],
    verify: { status: 'ok', through: '127.0.0.1:3306', expected: '2 3306 db2', answered: '2 3306 db2' },
    rolledBack: false,
    warnings: [],
    message: 'switched to 10.0.0.12:3306',
    durationMs: 900,
    ...overrides,
  };
  return JSON.stringify(result);
}

function invocation(
  instanceId: string,
  status: CommandInvocationStatus,
  output = '',
  responseCode = status === 'Success' ? 0 : 5,
): CommandInvocation {
  return {
    CommandId: 'cmd-1',
    InstanceId: instanceId,
    Status: status,
    StatusDetails: status,
    CommandPlugins: [
      {
        Name: 'routerSwitch',
        Status: status as CommandPluginStatus,
        ResponseCode: responseCode,
        Output: output,
      },
    ],
  };
}

const sleeps: number[] = [];
const alerts: GroupSwitchResult[] = [];

function adapter(overrides: Partial<SsmRouterSwitchOptions> = {}): SsmRouterSwitch {
  return new SsmRouterSwitch({
    client: new SSMClient({ region: 'eu-west-1' }),
    documentName: 'MysqlFailover-RouterSwitch',
    groups: {
      web: {
        routerKind: 'haproxy',
        configPath: '/etc/haproxy/haproxy.cfg',
        section: 'mysql_failover',
        tag: { key: 'mysql-failover-group', value: 'web' },
      },
      api: {
        routerKind: 'mysqlrouter',
        configPath: '/etc/mysqlrouter/mysqlrouter.conf',
        section: 'mysql_failover',
        instanceIds: ['i-0123456789abcdef0', 'i-0fedcba9876543210'],
        verifyAddress: '127.0.0.1:7001',
      },
    },
    cloudWatchLogGroup: '/mysql-failover/router-switch',
    executionTimeoutSeconds: 150,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    alerter: {
      alert: async (result) => {
        alerts.push(result);
      },
    },
    ...overrides,
  });
}

const request = { destinations: ['10.0.0.12:3306'], fenced: ['10.0.0.11:3306'], dryRun: false };

beforeEach(() => {
  ssm.reset();
  sleeps.length = 0;
  alerts.length = 0;
  ssm
    .on(ListCommandsCommand)
    .resolves({ Commands: [{ CommandId: 'cmd-1', Status: 'Success', TargetCount: 1 }] });
});

describe('SsmRouterSwitch', () => {
  it('sends the document to the group by tag with validated parameters, concurrency, timeouts and CloudWatch output', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    ssm.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [invocation('i-0aaaaaaaaaaaaaaaa', 'Success', resultLine())],
    });
    const result = await adapter().switch('web', request);

    const sent = ssm.commandCalls(SendCommandCommand);
    expect(sent).toHaveLength(1);
    const input = sent[0]!.args[0].input;
    expect(input).toMatchObject({
      DocumentName: 'MysqlFailover-RouterSwitch-haproxy',
      Targets: [{ Key: 'tag:mysql-failover-group', Values: ['web'] }],
      MaxConcurrency: '100%',
      MaxErrors: '100%',
      TimeoutSeconds: 60,
      CloudWatchOutputConfig: {
        CloudWatchOutputEnabled: true,
        CloudWatchLogGroupName: '/mysql-failover/router-switch',
      },
    });
    expect(input.InstanceIds).toBeUndefined();
    expect(input.Parameters).toEqual({
      Action: ['switch'],
      RouterKind: ['haproxy'],
      ConfigPath: ['/etc/haproxy/haproxy.cfg'],
      Section: ['mysql_failover'],
      Destinations: ['10.0.0.12:3306'],
      Fenced: ['10.0.0.11:3306'],
      DryRun: ['false'],
      ApplyMode: ['auto'],
      VerifyDefaultsFile: ['/etc/mysql-failover/router-verify.cnf'],
      VerifyTimeoutSeconds: ['20'],
      ExecutionTimeout: ['150'],
    });
    expect(result).toMatchObject({ group: 'web', outcome: 'switched', alarm: false, commandIds: ['cmd-1'] });
    expect(result.routers).toHaveLength(1);
    expect(result.routers[0]).toMatchObject({
      target: 'i-0aaaaaaaaaaaaaaaa',
      ok: true,
      outcome: 'switched',
      attempts: 1,
    });
    expect(result.routers[0]!.result?.verify.status).toBe('ok');
    expect(alerts).toHaveLength(0);
  });

  it('targets instance ids when the group lists them', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    ssm
      .on(ListCommandsCommand)
      .resolves({ Commands: [{ CommandId: 'cmd-1', Status: 'Success', TargetCount: 2 }] });
    ssm.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [
        invocation('i-0123456789abcdef0', 'Success', resultLine({ kind: 'mysqlrouter' })),
        invocation(
          'i-0fedcba9876543210',
          'Success',
          resultLine({ kind: 'mysqlrouter', alreadyInPlace: true, changed: false }),
        ),
      ],
    });
    const result = await adapter().switch('api', request);
    const input = ssm.commandCalls(SendCommandCommand)[0]!.args[0].input;
    expect(input.InstanceIds).toEqual(['i-0123456789abcdef0', 'i-0fedcba9876543210']);
    expect(input.Targets).toBeUndefined();
    expect(input.Parameters?.VerifyAddress).toEqual(['127.0.0.1:7001']);
    expect(result.outcome).toBe('switched');
    expect(result.routers.map((r) => r.outcome)).toEqual(['switched', 'unchanged']);
  });

  it('polls with growing delays until every invocation is terminal', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    ssm
      .on(ListCommandInvocationsCommand)
      .resolvesOnce({ CommandInvocations: [] })
      .resolvesOnce({ CommandInvocations: [invocation('i-0aaaaaaaaaaaaaaaa', 'Pending')] })
      .resolvesOnce({ CommandInvocations: [invocation('i-0aaaaaaaaaaaaaaaa', 'InProgress')] })
      .resolves({ CommandInvocations: [invocation('i-0aaaaaaaaaaaaaaaa', 'Success', resultLine())] });
    ssm
      .on(ListCommandsCommand)
      .resolvesOnce({ Commands: [{ CommandId: 'cmd-1', Status: 'Pending', TargetCount: 0 }] })
      .resolves({ Commands: [{ CommandId: 'cmd-1', Status: 'Success', TargetCount: 1 }] });
    const result = await adapter().switch('web', request);
    expect(ssm.commandCalls(ListCommandInvocationsCommand)).toHaveLength(4);
    expect(ssm.commandCalls(ListCommandInvocationsCommand)[0]!.args[0].input).toMatchObject({
      CommandId: 'cmd-1',
      Details: true,
    });
    expect(sleeps).toHaveLength(3);
    expect(sleeps[1]!).toBeGreaterThan(sleeps[0]!);
    expect(sleeps[2]!).toBeGreaterThan(sleeps[1]!);
    expect(result.outcome).toBe('switched');
  });

  it('polls at least once a second, so a finished switch is seen within a second', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    const pending = ssm.on(ListCommandInvocationsCommand);
    for (let i = 0; i < 8; i++)
      pending.resolvesOnce({ CommandInvocations: [invocation('i-0aaaaaaaaaaaaaaaa', 'InProgress')] });
    pending.resolves({ CommandInvocations: [invocation('i-0aaaaaaaaaaaaaaaa', 'Success', resultLine())] });
    ssm
      .on(ListCommandsCommand)
      .resolves({ Commands: [{ CommandId: 'cmd-1', Status: 'Success', TargetCount: 1 }] });
    const result = await adapter().switch('web', request);
    expect(result.outcome).toBe('switched');
    expect(sleeps).toHaveLength(8);
    expect(Math.max(...sleeps)).toBeLessThanOrEqual(1_000);
  });

  it('waits for tag targets that have not appeared yet', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    ssm
      .on(ListCommandInvocationsCommand)
      .resolvesOnce({ CommandInvocations: [invocation('i-0aaaaaaaaaaaaaaaa', 'Success', resultLine())] })
      .resolves({
        CommandInvocations: [
          invocation('i-0aaaaaaaaaaaaaaaa', 'Success', resultLine()),
          invocation('i-0bbbbbbbbbbbbbbbb', 'Success', resultLine()),
        ],
      });
    ssm
      .on(ListCommandsCommand)
      .resolvesOnce({ Commands: [{ CommandId: 'cmd-1', Status: 'InProgress', TargetCount: 2 }] })
      .resolves({ Commands: [{ CommandId: 'cmd-1', Status: 'Success', TargetCount: 2 }] });
    const result = await adapter().switch('web', request);
    expect(result.routers.map((r) => r.target)).toEqual(['i-0aaaaaaaaaaaaaaaa', 'i-0bbbbbbbbbbbbbbbb']);
  });

  it('follows NextToken through every page of invocations', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    ssm
      .on(ListCommandsCommand)
      .resolves({ Commands: [{ CommandId: 'cmd-1', Status: 'Success', TargetCount: 3 }] });
    ssm
      .on(ListCommandInvocationsCommand, { CommandId: 'cmd-1', NextToken: undefined })
      .resolves({
        CommandInvocations: [
          invocation('i-0aaaaaaaaaaaaaaaa', 'Success', resultLine()),
          invocation('i-0bbbbbbbbbbbbbbbb', 'Success', resultLine()),
        ],
        NextToken: 'page-2',
      })
      .on(ListCommandInvocationsCommand, { CommandId: 'cmd-1', NextToken: 'page-2' })
      .resolves({ CommandInvocations: [invocation('i-0cccccccccccccccc', 'Success', resultLine())] });
    const result = await adapter().switch('web', request);
    expect(result.routers.map((r) => r.target)).toEqual([
      'i-0aaaaaaaaaaaaaaaa',
      'i-0bbbbbbbbbbbbbbbb',
      'i-0cccccccccccccccc',
    ]);
    expect(result.outcome).toBe('switched');
  });

  it('retries throttled calls with backoff', async () => {
    const throttled = Object.assign(new Error('Rate exceeded'), {
      name: 'ThrottlingException',
      $metadata: { httpStatusCode: 400 },
    });
    ssm
      .on(SendCommandCommand)
      .rejectsOnce(throttled)
      .rejectsOnce(throttled)
      .resolves({ Command: { CommandId: 'cmd-1' } });
    ssm
      .on(ListCommandInvocationsCommand)
      .rejectsOnce(throttled)
      .resolves({ CommandInvocations: [invocation('i-0aaaaaaaaaaaaaaaa', 'Success', resultLine())] });
    const result = await adapter().switch('web', request);
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(3);
    expect(result.outcome).toBe('switched');
    expect(sleeps.length).toBeGreaterThanOrEqual(3);
  });

  it('retries the failed instances once, then reports the group partial and raises the alarm', async () => {
    const failedLine = resultLine({
      ok: false,
      changed: false,
      rolledBack: true,
      verify: { status: 'failed', through: '127.0.0.1:3306', expected: '2 3306 db2', answered: '1 3306 db1' },
      message: 'verification failed; the previous config was restored and applied',
    });
    ssm
      .on(SendCommandCommand)
      .resolvesOnce({ Command: { CommandId: 'cmd-1' } })
      .resolves({ Command: { CommandId: 'cmd-2' } });
    ssm.on(ListCommandsCommand).resolves({ Commands: [{ Status: 'Success', TargetCount: 2 }] });
    ssm.on(ListCommandInvocationsCommand, { CommandId: 'cmd-1' }).resolves({
      CommandInvocations: [
        invocation('i-0aaaaaaaaaaaaaaaa', 'Success', resultLine()),
        invocation('i-0bbbbbbbbbbbbbbbb', 'Failed', failedLine, 5),
      ],
    });
    ssm
      .on(ListCommandsCommand, { CommandId: 'cmd-2' })
      .resolves({ Commands: [{ Status: 'Failed', TargetCount: 1 }] });
    ssm.on(ListCommandInvocationsCommand, { CommandId: 'cmd-2' }).resolves({
      CommandInvocations: [invocation('i-0bbbbbbbbbbbbbbbb', 'Failed', failedLine, 5)],
    });
    const result = await adapter().switch('web', request);

    const sends = ssm.commandCalls(SendCommandCommand);
    expect(sends).toHaveLength(2);
    expect(sends[1]!.args[0].input.InstanceIds).toEqual(['i-0bbbbbbbbbbbbbbbb']);
    expect(sends[1]!.args[0].input.Targets).toBeUndefined();
    expect(sends[1]!.args[0].input.Parameters).toEqual(sends[0]!.args[0].input.Parameters);
    expect(result).toMatchObject({ outcome: 'partial', alarm: true, commandIds: ['cmd-1', 'cmd-2'] });
    expect(result.routers.find((r) => r.target === 'i-0bbbbbbbbbbbbbbbb')).toMatchObject({
      ok: false,
      outcome: 'failed',
      attempts: 2,
      error: 'verification failed; the previous config was restored and applied',
    });
    expect(result.message).toContain('1 of 2 router(s) failed');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.outcome).toBe('partial');
  });

  it('counts a router that recovers on the retry as switched', async () => {
    ssm
      .on(SendCommandCommand)
      .resolvesOnce({ Command: { CommandId: 'cmd-1' } })
      .resolves({ Command: { CommandId: 'cmd-2' } });
    ssm.on(ListCommandInvocationsCommand, { CommandId: 'cmd-1' }).resolves({
      CommandInvocations: [invocation('i-0aaaaaaaaaaaaaaaa', 'TimedOut', '', -1)],
    });
    ssm.on(ListCommandInvocationsCommand, { CommandId: 'cmd-2' }).resolves({
      CommandInvocations: [invocation('i-0aaaaaaaaaaaaaaaa', 'Success', resultLine())],
    });
    const result = await adapter().switch('web', request);
    expect(result).toMatchObject({ outcome: 'switched', alarm: false });
    expect(result.routers[0]).toMatchObject({ ok: true, attempts: 2 });
    expect(alerts).toHaveLength(0);
  });

  it('flags a command that reached no instance', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    ssm.on(ListCommandInvocationsCommand).resolves({ CommandInvocations: [] });
    ssm
      .on(ListCommandsCommand)
      .resolves({ Commands: [{ CommandId: 'cmd-1', Status: 'Success', TargetCount: 0 }] });
    const result = await adapter().switch('web', request);
    expect(result).toMatchObject({ outcome: 'no-targets', alarm: true });
    expect(alerts).toHaveLength(1);
  });

  it('reports the group failed and alarms when SendCommand itself is refused', async () => {
    ssm
      .on(SendCommandCommand)
      .rejects(Object.assign(new Error('document not found'), { name: 'InvalidDocument' }));
    const result = await adapter().switch('web', request);
    expect(result).toMatchObject({ outcome: 'failed', alarm: true });
    expect(result.message).toContain('document not found');
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(1);
  });

  it('fetches the full output when the listed plugin output was cut', async () => {
    const line = resultLine();
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    ssm.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [invocation('i-0aaaaaaaaaaaaaaaa', 'Success', line.slice(0, 300))],
    });
    ssm.on(GetCommandInvocationCommand).resolves({ StandardOutputContent: `${line}\n` });
    const result = await adapter().switch('web', request);
    expect(ssm.commandCalls(GetCommandInvocationCommand)[0]!.args[0].input).toEqual({
      CommandId: 'cmd-1',
      InstanceId: 'i-0aaaaaaaaaaaaaaaa',
      PluginName: 'routerSwitch',
    });
    expect(result.routers[0]!.ok).toBe(true);
  });

  it('treats a successful invocation without a result line as failed', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    ssm.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [invocation('i-0aaaaaaaaaaaaaaaa', 'Success', 'bash: not found')],
    });
    ssm.on(GetCommandInvocationCommand).resolves({ StandardOutputContent: 'bash: not found' });
    const result = await adapter({ retryFailed: false }).switch('web', request);
    expect(result.routers[0]).toMatchObject({ ok: false, outcome: 'failed' });
    expect(result.alarm).toBe(true);
  });

  it('rejects hostile parameters before any SSM call', async () => {
    for (const destination of [
      '10.0.0.12:3306; rm -rf /',
      '$(reboot):3306',
      '`id`',
      "x'y:3306",
      '10.0.0.12:3306\n',
    ]) {
      await expect(adapter().switch('web', { ...request, destinations: [destination] })).rejects.toThrow(
        UsageError,
      );
    }
    await expect(adapter().switch('web', { ...request, fenced: ['10.0.0.12:3306'] })).rejects.toThrow(
      UsageError,
    );
    expect(ssm.calls()).toHaveLength(0);
  });

  it('asks every router where it points for status', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    ssm.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [
        invocation(
          'i-0aaaaaaaaaaaaaaaa',
          'Success',
          resultLine({
            action: 'status',
            changed: false,
            destinations: ['10.0.0.11:3306', '10.0.0.12:3306'],
          }),
        ),
      ],
    });
    const result = await adapter().status('web');
    const input = ssm.commandCalls(SendCommandCommand)[0]!.args[0].input;
    expect(input.Parameters).toMatchObject({ Action: ['status'] });
    expect(input.Parameters?.Destinations).toBeUndefined();
    expect(result).toMatchObject({ action: 'status', outcome: 'status', alarm: false });
    expect(result.routers[0]!.result?.destinations).toEqual(['10.0.0.11:3306', '10.0.0.12:3306']);
  });

  it('dry-runs without changing anything and says so', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    ssm.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [
        invocation('i-0aaaaaaaaaaaaaaaa', 'Success', resultLine({ dryRun: true, changed: false })),
      ],
    });
    const result = await adapter().switch('web', { ...request, dryRun: true });
    expect(ssm.commandCalls(SendCommandCommand)[0]!.args[0].input.Parameters?.DryRun).toEqual(['true']);
    expect(result).toMatchObject({ outcome: 'dry-run', alarm: false });
  });
});
