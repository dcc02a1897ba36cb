/**
 * Decision-order cases the golden snapshots do not show, built from the captured Ok snapshot.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  analyze,
  ioThreadConfirmsSourceGone,
  unknownRouterGroups,
} from '../../../functions/core/analysis.js';
import { hydrateSnapshot, type ServerObservation, type Snapshot } from '../../../functions/core/snapshot.js';

const okText = readFileSync(join(import.meta.dirname, '../../fixtures/snapshots/Ok.json'), 'utf8');

function ok(): Snapshot {
  return hydrateSnapshot(JSON.parse(okText) as Snapshot);
}

/** A third server (replica of the primary) cloned from the captured replica. */
function withThirdServer(s: Snapshot, port: number, serverId: number): ServerObservation {
  const third = JSON.parse(JSON.stringify(s.servers[1])) as ServerObservation;
  third.id = `127.0.0.1:${port}`;
  third.port = port;
  third.serverId = serverId;
  s.servers.push(third);
  return third;
}

function rehydrate(s: Snapshot): Snapshot {
  return hydrateSnapshot(JSON.parse(JSON.stringify(s)) as Snapshot);
}

function down(s: ServerObservation): void {
  s.reachable = false;
  s.error = { message: 'connect ECONNREFUSED', code: 'ECONNREFUSED', errno: -111 };
  s.replication = null;
  s.operation = undefined;
}

describe('analysis decision order', () => {
  it('lets a recorded operation win over routers that disagree (they are being switched)', () => {
    const s = ok();
    s.routers[0]!.routesTo = s.servers[1]!.id;
    expect(analyze(s).code).toBe('SplitBrain');
    s.servers[0]!.operation = { epoch: 3, op: 'fail', master: 'b1', leaseExpiresInMs: -1500, signals: [] };
    const a = analyze(s);
    expect(a.code).toBe('OperationInProgress');
    expect(a.evidence[0]).toContain('lease expired 1500 ms ago');
  });

  it('keeps the router-majority side in a routers-disagree split brain, and the configured primary on a tie', () => {
    const s = ok();
    const [p, r] = s.servers;
    s.routers[0]!.routesTo = r!.id;
    expect(analyze(s).candidate).toBe(p!.id);
    s.routers[1]!.routesTo = null;
    s.routers[1]!.reachable = false;
    // one router each: the tie goes to the configured primary
    expect(analyze(s)).toMatchObject({ code: 'SplitBrain', candidate: p!.id });
  });

  it('does not count a router that lands on an unknown server as a vote', () => {
    const s = ok();
    for (const r of s.routers.slice(1)) {
      r.routesTo = null;
      r.matchedBy = null;
    }
    const a = analyze(s);
    expect(a.code).toBe('Ok');
    expect(a.routers).toMatchObject({ total: 3, answering: 1 });
    expect(a.evidence.join('\n')).toContain('an unknown server');
  });

  it('ranks a broken replica above a dead one and reports the other finding in `also`', () => {
    const s = ok();
    const third = withThirdServer(s, 1, 3);
    down(s.servers[1]!);
    third.replication!.sqlRunning = 'No';
    third.replication!.lastSqlErrno = 1062;
    third.replication!.lastSqlError = 'Duplicate entry';
    const a = analyze(rehydrate(s));
    expect(a).toMatchObject({ code: 'RecoverNeeded', affected: [third.id], also: ['ReplicaDown'] });
  });

  it('does not call a replica broken while its IO thread reconnects without an error', () => {
    const s = ok();
    s.servers[1]!.replication!.ioRunning = 'Connecting';
    expect(analyze(s).code).toBe('Ok');
    s.servers[1]!.replication!.lastIoErrno = 2003;
    expect(analyze(s).code).toBe('RecoverNeeded');
  });

  it('treats a replica of another source than the primary as needing recovery', () => {
    const s = ok();
    s.servers[1]!.replication!.sourceId = null;
    s.servers[1]!.replication!.sourceHost = '10.9.9.9';
    const a = analyze(s);
    expect(a.code).toBe('RecoverNeeded');
    expect(a.evidence[0]).toContain('not from the primary');
  });

  it('picks the most advanced replica when no router reaches anything and the primary is gone', () => {
    const s = ok();
    const [p, r2] = s.servers;
    const r3 = withThirdServer(s, 2, 3);
    down(p!);
    for (const r of [r2!, r3]) {
      r.replication!.ioRunning = 'Connecting';
      r.replication!.lastIoErrno = 2003;
      r.replication!.lastIoError = "error connecting to master: Can't connect";
    }
    r3.gtid.binlogPos.raw = '0-1-999';
    for (const r of s.routers) {
      r.reachable = false;
      r.routesTo = null;
      r.landed = null;
      r.error = { message: 'Connection lost', code: 'PROTOCOL_CONNECTION_LOST', errno: null };
    }
    expect(analyze(rehydrate(s))).toMatchObject({ code: 'PrimaryDead', candidate: r3.id, oldPrimary: p!.id });
    // while the replicas still receive, it is only RoutersUnreachable
    for (const r of [r2!, r3]) {
      r.replication!.ioRunning = 'Yes';
      r.replication!.lastIoErrno = 0;
    }
    expect(analyze(rehydrate(s)).code).toBe('RoutersUnreachable');
  });

  it('names the other replicas of a dead primary to repoint, and what they hold that the candidate lacks', () => {
    const s = ok();
    const [p, r2] = s.servers;
    const r3 = withThirdServer(s, 3, 3);
    down(p!);
    r2!.replication!.ioRunning = 'Connecting';
    r2!.replication!.lastIoErrno = 2003;
    for (const r of s.routers) r.routesTo = r2!.id;
    let a = analyze(rehydrate(s));
    expect(a).toMatchObject({ code: 'PrimaryDead', candidate: r2!.id, affected: [r3.id], errant: [] });
    // r3 got further than r2 before the primary died
    r3.gtid.binlogPos.raw = '0-1-999';
    a = analyze(rehydrate(s));
    expect(a.errant).toEqual([expect.objectContaining({ server: r3.id, missingOn: r2!.id })]);
    expect(a.evidence.join('\n')).toContain('salvage before repointing');
  });

  it('uses the configured primary when no router is observed', () => {
    const s = ok();
    s.routers = [];
    expect(analyze(s)).toMatchObject({ code: 'Ok', primary: s.servers[0]!.id });
    down(s.servers[0]!);
    s.servers[1]!.replication!.ioRunning = 'No';
    expect(analyze(rehydrate(s))).toMatchObject({ code: 'PrimaryDead', candidate: s.servers[1]!.id });
  });

  it('follows the routers, not a stale configuration, after a finished failover', () => {
    const s = ok();
    const [oldP, newP] = s.servers;
    // newP was promoted (no replication) and the routers use it; oldP was rebuilt as its replica.
    oldP!.replication = JSON.parse(JSON.stringify(newP!.replication)) as ServerObservation['replication'];
    oldP!.replication!.sourceId = newP!.id;
    newP!.replication = null;
    for (const r of s.routers) r.routesTo = newP!.id;
    const a = analyze(rehydrate(s));
    expect(a).toMatchObject({ code: 'Ok', primary: newP!.id });
    expect(a.evidence.join('\n')).toContain(`the configuration names ${oldP!.id} as primary`);
  });

  it('flags MySQL servers without gtid_mode=ON', () => {
    const s = ok();
    s.servers[1]!.flavor = 'mysql';
    s.servers[1]!.gtidMode = 'OFF';
    s.servers[1]!.gtid.executed.raw = '';
    const a = analyze(s);
    expect(a.code).toBe('NotGtidEnabled');
  });

  it('reads the IO thread the way rule 1 needs', () => {
    const s = ok().servers[1]!;
    expect(ioThreadConfirmsSourceGone(s)).toBe(false);
    s.replication!.ioRunning = 'Connecting';
    expect(ioThreadConfirmsSourceGone(s)).toBe(false);
    s.replication!.lastIoErrno = 2013;
    expect(ioThreadConfirmsSourceGone(s)).toBe(true);
    s.replication!.ioRunning = 'No';
    s.replication!.lastIoErrno = 0;
    expect(ioThreadConfirmsSourceGone(s)).toBe(true);
  });
});

describe("a group's routers against the other groups' (rule 3c)", () => {
  /** g1's router on the replica; the other groups' on the primary. */
  function g1OnReplica(): Snapshot {
    const s = ok();
    const g1 = s.routers.find((r) => r.group === 'g1')!;
    g1.routesTo = s.servers[1]!.id;
    return s;
  }

  it('sends a group back to the primary when its routers use a read-only server the others left', () => {
    const s = g1OnReplica();
    const [p, r] = s.servers;
    r!.readOnly = true;
    const a = analyze(s, { group: 'g1' });
    expect(a).toMatchObject({ code: 'RoutersBehind', primary: p!.id, candidate: p!.id, affected: [r!.id] });
    expect(a.routers).toMatchObject({ total: 1, answering: 1 });
    expect(a.evidence[0]).toContain('read-only');
    // the cluster-wide view (no group) still calls routers that disagree a split brain
    expect(analyze(s).code).toBe('SplitBrain');
  });

  it('sends a group back when its routers use a server the watchdog fenced, even if it is writable again', () => {
    const s = g1OnReplica();
    const [p, r] = s.servers;
    r!.replication = null; // a restarted old primary: writable, replicating from nobody
    expect(analyze(s, { group: 'g1' }).code).toBe('SplitBrain');
    const a = analyze(s, { group: 'g1', fenced: [r!.id] });
    expect(a).toMatchObject({ code: 'RoutersBehind', candidate: p!.id, affected: [r!.id] });
    expect(a.evidence[0]).toContain('fenced by the watchdog');
  });

  it('calls two writable heads used by different groups a split brain and keeps the side most routers use', () => {
    const s = g1OnReplica();
    const [p, r] = s.servers;
    r!.replication = null;
    const a = analyze(s, { group: 'g1' });
    expect(a).toMatchObject({ code: 'SplitBrain', candidate: p!.id, primary: p!.id });
    expect(a.affected.sort()).toEqual([p!.id, r!.id].sort());
  });

  it('keeps the seed behaviour when the group failed over to a writable replica first: FailoverNeeded', () => {
    const s = g1OnReplica();
    const [p, r] = s.servers;
    const a = analyze(s, { group: 'g1' });
    expect(a).toMatchObject({ code: 'FailoverNeeded', candidate: r!.id, oldPrimary: p!.id });
  });

  it('does not apply when the other groups use a read-only or non-head server', () => {
    const s = ok();
    const [p, r] = s.servers;
    for (const router of s.routers.filter((x) => x.group !== 'g1')) router.routesTo = r!.id;
    r!.readOnly = true; // the others land on a read-only replica: not a primary to rejoin
    const a = analyze(s, { group: 'g1' });
    expect(a.code).not.toBe('RoutersBehind');
    expect(a.primary).toBe(p!.id);
  });

  it("analyses a group whose routers agree with the others' exactly as before", () => {
    const s = ok();
    expect(analyze(s, { group: 'g2' })).toMatchObject({ code: 'Ok', routers: { total: 1, answering: 1 } });
  });
});

describe('routers unknown (safety rule 7)', () => {
  it('names a group whose EC2 tag discovery failed, whatever the other groups show', () => {
    const s = ok();
    s.routers = s.routers.filter((r) => r.group !== 'g2');
    s.discovery = s.groups.map((group) => ({
      group,
      source: 'ec2-tag' as const,
      found: group === 'g2' ? 0 : 1,
      ...(group === 'g2' ? { error: 'DescribeInstances: RequestLimitExceeded' } : {}),
    }));
    expect(unknownRouterGroups(s)).toEqual([
      { group: 'g2', reason: 'router discovery failed: DescribeInstances: RequestLimitExceeded' },
    ]);
    const a = analyze(rehydrate(s), { group: 'g1' });
    expect(a.code).toBe('RoutersUnknown');
    expect(a.evidence[0]).toContain('group g2: router discovery failed');
  });

  it('names a tag group with no running instance', () => {
    const s = ok();
    s.routers = s.routers.filter((r) => r.group !== 'g3');
    s.discovery = s.groups.map((group) => ({
      group,
      source: 'ec2-tag' as const,
      found: group === 'g3' ? 0 : 1,
    }));
    expect(unknownRouterGroups(s)).toEqual([
      { group: 'g3', reason: "no running instance carries the group's tag" },
    ]);
  });

  it('names a group none of whose routers answers, but not one whose routers answer that they reach nothing', () => {
    const s = ok();
    const r = s.routers.find((x) => x.group === 'g1')!;
    r.reachable = false;
    r.routesTo = null;
    r.landed = null;
    r.error = { message: 'connect ETIMEDOUT', code: 'ETIMEDOUT', errno: null };
    expect(unknownRouterGroups(s).map((u) => u.group)).toEqual(['g1']);
    expect(analyze(rehydrate(s), { group: 'g2' }).code).toBe('RoutersUnknown');
    r.error = { message: 'Connection lost', code: 'PROTOCOL_CONNECTION_LOST', errno: null };
    expect(unknownRouterGroups(s)).toEqual([]);
  });

  it('ranks above a recorded operation, so nothing is followed while a group is unknown', () => {
    const s = ok();
    s.servers[0]!.operation = { epoch: 3, op: 'fail', master: 'g1@1', leaseExpiresInMs: 5000, signals: [] };
    s.discovery = s.groups.map((group) => ({ group, source: 'ec2-tag' as const, found: 1 }));
    s.discovery[1]!.error = 'timeout';
    s.routers = s.routers.filter((r) => r.group !== 'g2');
    expect(analyze(rehydrate(s)).code).toBe('RoutersUnknown');
  });

  it('keeps active–passive co-primaries (circular replication) as they are, whichever one the routers use', () => {
    const s = ok();
    const [p, r] = s.servers as [ServerObservation, ServerObservation];
    p.replication = { ...r.replication!, sourceHost: r.host, sourcePort: r.port, sourceId: r.id };
    const a = analyze(rehydrate(s));
    expect(a).toMatchObject({ code: 'Ok', primary: p.id, candidate: null, oldPrimary: null });
    expect(a.evidence.join('\n')).toContain(`co-primary: ${p.id} and ${r.id} replicate from each other`);
    // The routers move to the passive one while the active is up: no failover, the passive is active now.
    for (const x of s.routers) x.routesTo = r.id;
    expect(analyze(rehydrate(s))).toMatchObject({ code: 'Ok', primary: r.id, oldPrimary: null });
    // The passive co-primary's replication breaks: it is a replica like any other (recover).
    r.replication!.sqlRunning = 'No';
    r.replication!.lastSqlErrno = 1062;
    for (const x of s.routers) x.routesTo = p.id;
    expect(analyze(rehydrate(s))).toMatchObject({ code: 'RecoverNeeded', affected: [r.id] });
  });

  it('still fails over from a primary that merely has a replica of its own replica (no circle)', () => {
    const s = ok();
    const [p, r] = s.servers as [ServerObservation, ServerObservation];
    for (const x of s.routers) x.routesTo = r.id;
    expect(analyze(rehydrate(s))).toMatchObject({
      code: 'FailoverNeeded',
      candidate: r.id,
      oldPrimary: p.id,
    });
  });

  it('refuses a multi-source replica above every operation, naming each source', () => {
    const s = ok();
    const [p, r] = s.servers as [ServerObservation, ServerObservation];
    r.channels = [
      { name: '', sourceHost: p.host, sourcePort: p.port, sourceId: p.id },
      { name: 'reporting', sourceHost: '10.20.0.7', sourcePort: 3306, sourceId: null },
    ];
    for (const x of s.routers) x.routesTo = r.id;
    const a = analyze(rehydrate(s));
    expect(a).toMatchObject({ code: 'MultiSourceReplica', affected: [r.id] });
    expect(a.evidence[0]).toBe(
      `${r.id} replicates from 2 sources: default from ${p.id}, 'reporting' from 10.20.0.7:3306 (not a configured server)`,
    );
  });
});
