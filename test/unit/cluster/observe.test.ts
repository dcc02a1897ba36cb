import { describe, expect, it } from 'vitest';
import {
  matchRouterTarget,
  matchSourcesByIdentity,
  observationFromRows,
  ROUTER_PROBE_SQL,
  targetFromConfig,
} from '../../../functions/cluster/observe.js';
import { analyze } from '../../../functions/core/analysis.js';
import type { ServerObservation } from '../../../functions/core/snapshot.js';

function seen(id: string, serverId: number | null): ServerObservation {
  const [host, port] = id.split(':') as [string, string];
  return { id, host, port: Number(port), serverId } as ServerObservation;
}

const configured = [
  { id: 'db-a.internal:3306', host: 'db-a.internal', port: 3306, replicationHost: 'db-a' },
  { id: 'db-b.internal:3306', host: 'db-b.internal', port: 3306, replicationHost: 'db-b' },
];

describe('the router probe', () => {
  it("goes to ProxySQL's writer hostgroup under its documented read/write split rules", () => {
    // https://proxysql.com/documentation/proxysql-read-write-split-howto/: rule 1 writer, rule 2 readers.
    const toWriter = /^SELECT.*FOR UPDATE$/i;
    const toReader = /^SELECT/i;
    expect(toWriter.test(ROUTER_PROBE_SQL)).toBe(true);
    expect(toReader.test(ROUTER_PROBE_SQL) && !toWriter.test(ROUTER_PROBE_SQL)).toBe(false);
    expect(ROUTER_PROBE_SQL).toMatch(/@@hostname.*@@port.*@@server_id/);
  });
});

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

describe('a MySQL server, from the rows it returns (statement level; real MySQL 9.7 runs in the integration tests)', () => {
  const UA = '5a1e4c2e-ca4b-11ef-9a01-0242ac120002';
  const UB = '6b2f5d3f-ca4b-11ef-9a01-0242ac120003';
  const servers = [
    { id: 'db-a:3306', host: 'db-a', port: 3306 },
    { id: 'db-b:3306', host: 'db-b', port: 3306 },
  ];
  const vars = (o: Record<string, string>) =>
    Object.entries(o).map(([Variable_name, Value]) => ({ Variable_name, Value }));
  const base = {
    version: '8.4.3',
    version_comment: 'MySQL Community Server - GPL',
    hostname: 'ip-10-0-0-2',
    port: '3306',
    read_only: 'OFF',
    super_read_only: 'OFF',
    log_bin: 'ON',
    log_replica_updates: 'ON',
    gtid_mode: 'ON',
    enforce_gtid_consistency: 'ON',
    gtid_purged: '',
  };

  it('reads SHOW GLOBAL VARIABLES and SHOW REPLICA STATUS of a MySQL 8.4 replica', () => {
    const obs = observationFromRows(
      servers[1]!,
      vars({ ...base, server_id: '2', server_uuid: UB, gtid_executed: `${UA}:1-120,\n${UB}:1-2` }),
      [
        {
          Replica_IO_State: 'Waiting for source to send event',
          Source_Host: 'db-a',
          Source_Port: 3306,
          Replica_IO_Running: 'Yes',
          Replica_SQL_Running: 'Yes',
          Seconds_Behind_Source: 0,
          Source_Server_Id: 1,
          Source_UUID: UA,
          Last_IO_Errno: 0,
          Last_IO_Error: '',
          Last_SQL_Errno: 0,
          Last_SQL_Error: '',
          Retrieved_Gtid_Set: `${UA}:1-120`,
          Executed_Gtid_Set: `${UA}:1-120,\n${UB}:1-2`,
          Auto_Position: 1,
          Channel_Name: '',
        },
      ],
      servers,
    );
    expect(obs).toMatchObject({
      reachable: true,
      flavor: 'mysql',
      serverId: 2,
      serverUuid: UB,
      readOnly: false,
      superReadOnly: false,
      logReplicaUpdates: true,
      gtidMode: 'ON',
      gtidStrictMode: null,
    });
    expect(obs.gtid.executed.parsed?.toString()).toBe(`${UA}:1-120,${UB}:1-2`);
    expect(obs.replication).toMatchObject({
      sourceId: 'db-a:3306',
      usingGtid: 'auto-position',
      sourceUuid: UA,
    });
  });

  it('analyses two MySQL servers: errant transactions on the replica are its own uuid', () => {
    const primary = observationFromRows(
      servers[0]!,
      vars({
        ...base,
        hostname: 'ip-10-0-0-1',
        server_id: '1',
        server_uuid: UA,
        gtid_executed: `${UA}:1-120`,
      }),
      [],
      servers,
    );
    const replica = observationFromRows(
      servers[1]!,
      vars({ ...base, server_id: '2', server_uuid: UB, gtid_executed: `${UA}:1-120,\n${UB}:1-2` }),
      [
        {
          Source_Host: 'db-a',
          Source_Port: 3306,
          Replica_IO_Running: 'Yes',
          Replica_SQL_Running: 'Yes',
          Seconds_Behind_Source: 0,
          Last_IO_Errno: 0,
          Last_SQL_Errno: 0,
          Auto_Position: 1,
        },
      ],
      servers,
    );
    const a = analyze({
      takenAt: '2026-11-25T12:00:00Z',
      cluster: 'prod',
      configuredPrimary: 'db-a:3306',
      servers: [primary, replica],
      groups: ['web'],
      routers: [
        {
          group: 'web',
          id: '10.1.0.1:7001',
          reachable: true,
          routesTo: 'db-a:3306',
          landed: { hostname: 'ip-10-0-0-1', port: 3306, serverId: 1 },
          matchedBy: 'server_id',
          error: null,
          probeMs: 1,
        },
      ],
      queries: 0,
      durationMs: 0,
    });
    expect(a).toMatchObject({ code: 'ReplicaErrantTransactions', affected: ['db-b:3306'] });
    expect(a.errant[0]?.gtids).toBe(`${UB}:1-2`);
  });

  it('reads a MySQL 5.7 replica through the old column names and without super_read_only on 5.7.7', () => {
    const obs = observationFromRows(
      servers[1]!,
      vars({ ...base, version: '5.7.7-log', server_id: '2', gtid_mode: 'OFF', gtid_executed: '' }),
      [
        {
          Master_Host: 'db-a',
          Master_Port: 3306,
          Slave_IO_Running: 'No',
          Slave_SQL_Running: 'No',
          Auto_Position: 0,
        },
      ],
      servers,
    );
    expect(obs).toMatchObject({ superReadOnly: null, gtidMode: 'OFF' });
    expect(obs.replication).toMatchObject({ sourceId: 'db-a:3306', ioRunning: 'No', usingGtid: 'No' });
  });

  it('lists every source of a multi-source replica (MariaDB named connections) and reads the default one', () => {
    const row = (name: string, host: string) => ({
      Connection_name: name,
      Master_Host: host,
      Master_Port: 3306,
      Slave_IO_Running: 'Yes',
      Slave_SQL_Running: 'Yes',
      Last_IO_Errno: 0,
      Last_SQL_Errno: 0,
      Using_Gtid: 'Slave_Pos',
    });
    const maria = vars({ ...base, version: '10.11.9-MariaDB', version_comment: 'MariaDB Server' });
    const obs = observationFromRows(
      servers[1]!,
      maria,
      [row('reporting', '10.20.0.7'), row('', 'db-a')],
      servers,
    );
    expect(obs.replication).toMatchObject({ sourceId: 'db-a:3306', channel: '' });
    expect(obs.channels).toEqual([
      { name: 'reporting', sourceHost: '10.20.0.7', sourcePort: 3306, sourceId: null },
      { name: '', sourceHost: 'db-a', sourcePort: 3306, sourceId: 'db-a:3306' },
    ]);
    expect(observationFromRows(servers[1]!, maria, [row('', 'db-a')], servers).channels).toBeUndefined();
  });

  it("matches a source named by an alias (the seed's BDD_PEER) by server_id, and never a server as its own source", () => {
    const mariadb = vars({ ...base, version: '10.11.9-MariaDB', version_comment: 'MariaDB Server' });
    const status = (host: string, masterServerId: number) => [
      {
        Master_Host: host,
        Master_Port: 3306,
        Master_Server_Id: masterServerId,
        Slave_IO_Running: 'Yes',
        Slave_SQL_Running: 'Yes',
        Using_Gtid: 'Slave_Pos',
      },
    ];
    const a = observationFromRows(servers[0]!, vars({ ...base, server_id: '1' }), [], servers);
    a.serverId = 1;
    // Only an alias: no configured address names it; the IO thread reached server_id 1 (db-a).
    const b = observationFromRows(servers[1]!, mariadb, status('BDD_PEER', 1), servers);
    expect(b.replication?.sourceId).toBeNull();
    matchSourcesByIdentity([a, b]);
    expect(b.replication).toMatchObject({ sourceId: 'db-a:3306', sourceMatchedBy: 'server_id' });
    // Every server configured with the seed's alias as its replication host: the other one is meant.
    const aliased = servers.map((s) => ({ ...s, replicationHost: 'BDD_PEER' }));
    const b2 = observationFromRows(aliased[1]!, mariadb, status('BDD_PEER', 0), aliased);
    expect(b2.replication?.sourceId).toBe('db-a:3306');
    // A server_id nobody has (or none seen yet) matches nothing.
    const b3 = observationFromRows(servers[1]!, mariadb, status('BDD_PEER', 7), servers);
    matchSourcesByIdentity([a, b3]);
    expect(b3.replication?.sourceId).toBeNull();
  });
});
