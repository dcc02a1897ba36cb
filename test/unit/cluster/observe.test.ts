import { describe, expect, it } from 'vitest';
import { matchRouterTarget, targetFromConfig } from '../../../functions/cluster/observe.js';
import type { ServerObservation } from '../../../functions/core/snapshot.js';

function seen(id: string, serverId: number | null): ServerObservation {
  const [host, port] = id.split(':') as [string, string];
  return { id, host, port: Number(port), serverId } as ServerObservation;
}

const configured = [
  { id: 'db-a.internal:3306', host: 'db-a.internal', port: 3306, replicationHost: 'db-a' },
  { id: 'db-b.internal:3306', host: 'db-b.internal', port: 3306, replicationHost: 'db-b' },
];

describe('matching a router target to a configured server', () => {
  it('prefers the server_id of a server we reached ourselves', () => {
    const servers = [seen(configured[0]!.id, 11), seen(configured[1]!.id, 12)];
    expect(
      matchRouterTarget({ hostname: 'whatever', port: 3306, serverId: 12 }, servers, configured),
    ).toEqual({
      id: 'db-b.internal:3306',
      by: 'server_id',
    });
  });

  it('uses @@hostname against the configured or replication host when server_ids are unknown', () => {
    const servers = [seen(configured[0]!.id, null), seen(configured[1]!.id, null)];
    expect(matchRouterTarget({ hostname: 'db-a', port: 3306, serverId: 11 }, servers, configured)).toEqual({
      id: 'db-a.internal:3306',
      by: 'hostname',
    });
  });

  it('uses a port only one configured server has (local clusters on one host)', () => {
    const local = [
      { id: '127.0.0.1:41001', host: '127.0.0.1', port: 41001 },
      { id: '127.0.0.1:41002', host: '127.0.0.1', port: 41002 },
    ];
    const servers = local.map((c) => seen(c.id, null));
    expect(matchRouterTarget({ hostname: 'vm', port: 41002, serverId: 2 }, servers, local)).toEqual({
      id: '127.0.0.1:41002',
      by: 'port',
    });
  });

  it('falls back to elimination: the one server we could not read, when the id is none we know', () => {
    const servers = [seen(configured[0]!.id, null), seen(configured[1]!.id, 12)];
    expect(
      matchRouterTarget({ hostname: 'ip-10-0-0-1', port: 3306, serverId: 11 }, servers, configured),
    ).toEqual({
      id: 'db-a.internal:3306',
      by: 'elimination',
    });
  });

  it('gives up rather than guess', () => {
    const servers = [seen(configured[0]!.id, null), seen(configured[1]!.id, null)];
    expect(
      matchRouterTarget({ hostname: 'ip-10-0-0-9', port: 3306, serverId: 99 }, servers, configured),
    ).toBeNull();
  });
});

describe('observation target from a configuration', () => {
  it('keeps servers in order, the configured primary, and only the asked groups', () => {
    const t = targetFromConfig(
      {
        clusterName: 'prod',
        servers: configured,
        groups: [
          { name: 'web', routers: [{ id: '10.1.0.1:7001', host: '10.1.0.1', port: 7001 }] },
          { name: 'jobs', routers: [{ id: '10.2.0.1:7001', host: '10.2.0.1', port: 7001 }] },
        ],
      },
      ['jobs'],
    );
    expect(t.configuredPrimary).toBe('db-a.internal:3306');
    expect(t.servers.map((s) => s.id)).toEqual(['db-a.internal:3306', 'db-b.internal:3306']);
    expect(t.groups).toEqual([
      { name: 'jobs', routers: [{ id: '10.2.0.1:7001', host: '10.2.0.1', port: 7001 }] },
    ]);
  });
});
