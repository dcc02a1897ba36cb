/**
 * `repl-watchdog adopt`'s advice, from what it read (pure): the original script's cluster with its
 * BDD_PEER alias, both servers writable, its `ongoing_failover` database left behind.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../functions/config/schema.js';
import type { ServerObservation, Snapshot } from '../../../functions/core/snapshot.js';
import { adviseAdoption, formatAdoption } from '../../../functions/operations/adopt.js';
import type { CycleReport } from '../../../functions/operations/cycle.js';

const config = parseConfig(
  {
    clusterName: 'prod',
    servers: ['10.0.1.11:3306', '10.0.1.12:3306'],
    groups: [{ name: 'web', routerKind: 'mysqlrouter', routers: ['10.0.2.1:7001'] }],
    credentials: { watchdog: { user: 'watchdog', password: 's3cret' } },
  },
  'test',
);

function server(id: string, serverId: number, replication: Partial<ServerObservation['replication']> | null) {
  return {
    id,
    reachable: true,
    flavor: 'mysql',
    version: '8.0.36',
    versionComment: 'MySQL Community Server - GPL',
    serverId,
    readOnly: false,
    replication: replication
      ? { ioRunning: 'Yes', sqlRunning: 'Yes', sourcePort: 3306, ...replication }
      : null,
  } as unknown as ServerObservation;
}

const snapshot = (replica: ServerObservation): Snapshot =>
  ({ servers: [server('10.0.1.11:3306', 1, null), replica] }) as unknown as Snapshot;

const okRun = {
  group: 'web',
  analysis: { code: 'Ok' },
  plan: { kind: 'none', steps: [], reason: 'nothing to do' },
} as unknown as CycleReport;

describe('adopting a cluster of the original script', () => {
  it('keeps a replica replicating from the BDD_PEER alias and gives both servers the alias as replicationHost', () => {
    const replica = server('10.0.1.12:3306', 2, {
      sourceHost: 'BDD_PEER',
      sourceId: '10.0.1.11:3306',
      sourceMatchedBy: 'server_id',
      sourceServerId: 1,
    });
    const advice = adviseAdoption(config, snapshot(replica), [], [okRun]);
    expect(advice.found).toContain(
      '10.0.1.12:3306: replicates from BDD_PEER:3306 (IO Yes, SQL Yes), an alias of 10.0.1.11:3306 (matched by server_id): kept, never rebuilt',
    );
    expect(advice.found.join('\n')).toMatch(/every server is writable/);
    expect(advice.configuration.servers).toEqual([
      { host: '10.0.1.11', port: 3306, replicationHost: 'BDD_PEER' },
      { host: '10.0.1.12', port: 3306, replicationHost: 'BDD_PEER' },
    ]);
    expect(advice.firstRun).toEqual(['group web: Ok -> none: nothing to do']);
    expect(advice.warnings).toEqual([]);
    expect(formatAdoption(advice)).toContain('Nothing to settle before enabling the schedule.');
  });

  it("warns about the script's election database, an unmatched source and a first run that would act", () => {
    const replica = server('10.0.1.12:3306', 2, { sourceHost: 'old-db', sourceId: null, sourceServerId: 9 });
    const acting = {
      group: 'web',
      analysis: { code: 'RecoverNeeded' },
      plan: { kind: 'operation', operation: 'recover', steps: [{ kind: 'Reseed' }], reason: 'rebuild' },
    } as unknown as CycleReport;
    const advice = adviseAdoption(
      config,
      snapshot(replica),
      [
        { server: '10.0.1.11:3306', tables: ['status'], statusRows: 3 },
        { server: '10.0.1.12:3306', tables: [], statusRows: 0 },
      ],
      [acting],
    );
    expect(advice.found.join('\n')).toMatch(/old-db:3306 .* matches no configured server .*server_id 9/);
    expect(advice.found).toContain(
      "10.0.1.11:3306: ongoing_failover holds status (3 signal(s) in status): the original script's layout",
    );
    expect(advice.warnings.map((w) => w.slice(0, 40))).toEqual([
      '10.0.1.12:3306 replicates from a server ',
      "10.0.1.11:3306: the original script's on",
      'the first run would start recover (Recov',
    ]);
  });
});
