import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { discoverRouters, ec2TagFinder } from '../../../functions/cluster/discovery.js';
import { parseConfig } from '../../../functions/config/schema.js';

const config = parseConfig(
  {
    clusterName: 'shop',
    servers: ['10.0.1.10:3306', '10.0.2.10:3306'],
    groups: [
      {
        name: 'web',
        routerKind: 'mysqlrouter',
        ec2Tag: { key: 'mysql-failover-group', value: 'web' },
        routerPort: 7001,
        configPath: '/etc/mysqlrouter/mysqlrouter.conf',
      },
      {
        name: 'batch',
        routerKind: 'haproxy',
        routers: [{ address: '10.0.5.5:3307', instanceId: 'i-0123456789abcdef0' }],
      },
    ],
    credentials: { watchdog: { user: 'watchdog', password: 'pw' } },
  },
  'test',
);

describe('router discovery by EC2 tag', () => {
  it('asks for running instances carrying the tag, every page, and keeps private IP and instance id', async () => {
    const ec2 = mockClient(EC2Client);
    try {
      ec2
        .on(DescribeInstancesCommand)
        .resolvesOnce({
          Reservations: [
            { Instances: [{ InstanceId: 'i-0bbbbbbbbbbbbbbbb', PrivateIpAddress: '10.0.3.12' }] },
          ],
          NextToken: 'page-2',
        })
        .resolvesOnce({
          Reservations: [
            {
              Instances: [
                { InstanceId: 'i-0aaaaaaaaaaaaaaaa', PrivateIpAddress: '10.0.3.11' },
                { InstanceId: 'i-0cccccccccccccccc' }, // no private address (yet): not a router endpoint
              ],
            },
          ],
        });
      const find = ec2TagFinder(new EC2Client({ region: 'eu-west-1' }));
      const { config: found, discovery } = await discoverRouters(config, find);
      const calls = ec2.commandCalls(DescribeInstancesCommand);
      expect(calls.map((c) => c.args[0].input)).toEqual([
        {
          Filters: [
            { Name: 'tag:mysql-failover-group', Values: ['web'] },
            { Name: 'instance-state-name', Values: ['running'] },
          ],
          MaxResults: 1000,
          NextToken: undefined,
        },
        expect.objectContaining({ NextToken: 'page-2' }),
      ]);
      expect(found.groups[0]!.routers).toEqual([
        {
          id: '10.0.3.11:7001',
          host: '10.0.3.11',
          port: 7001,
          instanceId: 'i-0aaaaaaaaaaaaaaaa',
          configPath: '/etc/mysqlrouter/mysqlrouter.conf',
          adminSocket: undefined,
        },
        expect.objectContaining({ id: '10.0.3.12:7001', instanceId: 'i-0bbbbbbbbbbbbbbbb' }),
      ]);
      // a group that lists its routers keeps them
      expect(found.groups[1]).toBe(config.groups[1]);
      expect(discovery).toEqual([
        { group: 'web', source: 'ec2-tag', found: 2 },
        { group: 'batch', source: 'config', found: 1 },
      ]);
    } finally {
      ec2.restore();
    }
  });

  it('turns an API error or an empty answer into the group’s finding, never an exception', async () => {
    const denied = await discoverRouters(config, async () => {
      throw Object.assign(new Error('You are not authorized to perform this operation.'), {
        name: 'UnauthorizedOperation',
      });
    });
    expect(denied.config.groups[0]!.routers).toEqual([]);
    expect(denied.discovery[0]).toEqual({
      group: 'web',
      source: 'ec2-tag',
      found: 0,
      error: 'DescribeInstances mysql-failover-group=web: You are not authorized to perform this operation.',
    });
    const none = await discoverRouters(config, async () => []);
    expect(none.discovery[0]).toEqual({ group: 'web', source: 'ec2-tag', found: 0 });
    const noClient = await discoverRouters(config, undefined);
    expect(noClient.discovery[0]!.error).toContain('no EC2 access');
  });
});
