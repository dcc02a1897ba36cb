import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { Flavor } from '../../../functions/cluster/flavor.js';
import { parseConfig } from '../../../functions/config/schema.js';
import { ReseedCommandError } from '../../../functions/errors.js';
import { SsmHostCommands } from '../../../functions/operations/physical/ssm-commands.js';

const ssm = mockClient(SSMClient);
const config = parseConfig(
  {
    clusterName: 'c1',
    servers: [
      { address: '10.0.0.1:3306', name: 'db1' },
      { address: '10.0.0.2:3306', name: 'db2' },
    ],
    groups: [{ name: 'g1', routerKind: 'haproxy', routers: ['10.0.1.1:3306'] }],
    objectStore: 's3://backups-1/mf',
    reseed: {
      method: 'physical',
      hosts: {
        db1: { instanceId: 'i-0000000000000000a' },
        '10.0.0.2:3306': { instanceId: 'i-0000000000000000b', serviceName: 'mariadb@main' },
      },
    },
  },
  'test',
);
const commands = () =>
  new SsmHostCommands({ client: new SSMClient({}), config, documentName: 'mf-PhysicalReseed' });
const line = (o: Record<string, unknown>) =>
  `physical-reseed: log line\n${JSON.stringify({ schema: 'physical-reseed/1', ok: true, gtid: '0-1-9', rawBytes: 5, storedBytes: 2, message: 'm', ...o })}\n`;

beforeEach(() => ssm.reset());

describe('physical reseed through SSM Run Command', () => {
  it('sends the document to the server’s instance with constrained parameters only', async () => {
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    const id = await commands().start('10.0.0.2:3306', {
      action: 'restore',
      key: 'operations/c1/000001/physical-db2/backup.xb.gz',
      store: 's3://backups-1/mf',
    });
    expect(id).toBe('cmd-1');
    const input = ssm.commandCalls(SendCommandCommand)[0]!.args[0].input;
    expect(input).toMatchObject({ DocumentName: 'mf-PhysicalReseed', InstanceIds: ['i-0000000000000000b'] });
    expect(input.Parameters).toEqual({
      Action: ['restore'],
      Key: ['operations/c1/000001/physical-db2/backup.xb.gz'],
      Store: ['s3://backups-1/mf'],
      ServiceControl: ['systemd'],
      ServiceName: ['mariadb@main'],
      Parallel: ['2'],
      ExecutionTimeout: ['86400'],
    });
  });

  it('reports running, succeeded with the script result, or failed with its message', async () => {
    ssm
      .on(GetCommandInvocationCommand)
      .resolvesOnce({ Status: 'InProgress' })
      .resolvesOnce({ Status: 'Success', StandardOutputContent: line({}) })
      .resolvesOnce({
        Status: 'Failed',
        StandardOutputContent: line({ ok: false, message: 'the server did not stop' }),
      });
    const c = commands();
    expect(await c.status('10.0.0.1:3306', 'cmd-1')).toEqual({ state: 'running' });
    const done = await c.status('10.0.0.1:3306', 'cmd-1');
    expect(done).toMatchObject({ state: 'succeeded', result: { gtid: '0-1-9', rawBytes: 5 } });
    expect(await c.status('10.0.0.1:3306', 'cmd-1')).toMatchObject({
      state: 'failed',
      error: 'the server did not stop',
    });
    expect(ssm.commandCalls(GetCommandInvocationCommand)[0]!.args[0].input).toEqual({
      CommandId: 'cmd-1',
      InstanceId: 'i-0000000000000000a',
    });
  });

  it('treats an invocation SSM does not know yet as running, and a timed-out one as failed', async () => {
    ssm
      .on(GetCommandInvocationCommand)
      .rejectsOnce(Object.assign(new Error('no'), { name: 'InvocationDoesNotExist' }))
      .resolvesOnce({
        Status: 'TimedOut',
        StatusDetails: 'ExecutionTimedOut',
        StandardErrorContent: 'killed',
      });
    const c = commands();
    expect(await c.status('10.0.0.1:3306', 'cmd-2')).toEqual({ state: 'running' });
    expect(await c.status('10.0.0.1:3306', 'cmd-2')).toMatchObject({ state: 'failed', error: /TimedOut/ });
  });

  it('is reachable only for a configured host whose agent is online', async () => {
    ssm
      .on(DescribeInstanceInformationCommand)
      .resolvesOnce({
        InstanceInformationList: [{ InstanceId: 'i-0000000000000000a', PingStatus: 'Online' }],
      })
      .resolvesOnce({
        InstanceInformationList: [{ InstanceId: 'i-0000000000000000b', PingStatus: 'ConnectionLost' }],
      });
    const c = commands();
    expect(await c.reachable('10.0.0.1:3306')).toBe(true);
    expect(await c.reachable('10.0.0.2:3306')).toBe(false);
    await expect(
      c.start('10.0.0.9:3306', { action: 'backup', key: 'k', store: 's3://backups-1/mf' }),
    ).rejects.toThrow();
  });

  it('refuses to start without an instance for the server', async () => {
    const bare = new SsmHostCommands({
      client: new SSMClient({}),
      config: parseConfig({ ...config, reseed: {} }, 'test'),
      documentName: 'd',
    });
    expect(await bare.reachable('10.0.0.1:3306')).toBe(false);
    await expect(
      bare.start('10.0.0.1:3306', { action: 'backup', key: 'k', store: 's3://backups-1/mf' }),
    ).rejects.toThrow(ReseedCommandError);
  });
});

describe('CLONE statements', () => {
  it('persists read_only and skip_replica_start for the restart, lowers super_read_only, lists the donor, then clones from it (MySQL 8.0.17+ only)', () => {
    const f = Flavor.detect('8.4.3', 'MySQL Community Server - GPL');
    expect(f.supportsClone).toBe(true);
    expect(f.cloneStatements({ host: '10.0.0.1', port: 3306, user: 'clone', password: 'p' })).toEqual([
      { sql: 'SET PERSIST read_only = ON' },
      { sql: 'SET PERSIST_ONLY skip_replica_start = ON' },
      { sql: 'SET GLOBAL super_read_only = OFF' },
      { sql: 'SET GLOBAL clone_valid_donor_list = ?', values: ['10.0.0.1:3306'] },
      { sql: 'CLONE INSTANCE FROM ?@?:? IDENTIFIED BY ?', values: ['clone', '10.0.0.1', 3306, 'p'] },
    ]);
    expect(f.cloneFinishedStatements()).toEqual([
      { sql: 'RESET PERSIST IF EXISTS read_only' },
      { sql: 'RESET PERSIST IF EXISTS skip_replica_start' },
    ]);
    // skip_slave_start is a system variable from 8.0.24 (named skip_replica_start from 8.0.26).
    const clone = (v: string) =>
      Flavor.detect(v, 'MySQL Community Server - GPL')
        .cloneStatements({ host: 'h', port: 1, user: 'u', password: 'p' })
        .map((st) => st.sql)
        .filter((sql) => sql.includes('skip_'));
    expect(clone('8.0.25')).toEqual(['SET PERSIST_ONLY skip_slave_start = ON']);
    expect(clone('8.0.20')).toEqual([]);
    expect(Flavor.detect('8.0.16', 'MySQL Community Server - GPL').supportsClone).toBe(false);
    expect(Flavor.detect('10.11.6-MariaDB').supportsClone).toBe(false);
    expect(() =>
      Flavor.detect('10.11.6-MariaDB').cloneStatements({ host: 'h', port: 1, user: 'u', password: 'p' }),
    ).toThrow(/8\.0\.17/);
  });
});
