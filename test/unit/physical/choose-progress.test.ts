import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../functions/config/schema.js';
import { chooseReseedMethod, type MethodFacts } from '../../../functions/operations/physical/choose.js';
import {
  cloneProgressOf,
  describeProgress,
  progressOf,
} from '../../../functions/operations/physical/progress.js';

const base = {
  clusterName: 'c1',
  servers: ['10.0.0.1:3306', { address: '10.0.0.2:3306', name: 'db2' }],
  groups: [{ name: 'g1', routerKind: 'haproxy', routers: ['10.0.1.1:3306'] }],
};
const reseedOf = (reseed?: unknown) => parseConfig({ ...base, ...(reseed ? { reseed } : {}) }, 'test').reseed;
const facts = (over: Partial<MethodFacts> = {}): MethodFacts => ({
  config: reseedOf(),
  mariadb: true,
  supportsClone: false,
  sourceBytes: 20e9,
  hostsReachable: true,
  alreadyPhysical: false,
  ...over,
});

describe('reseed configuration', () => {
  it('defaults to auto above 5 GB, and names hosts by server name or address only', () => {
    expect(reseedOf()).toMatchObject({ method: 'auto', physicalAboveGb: 5, hosts: {}, parallel: 2 });
    const r = reseedOf({ method: 'physical', hosts: { db2: { instanceId: 'i-0123456789abcdef0' } } });
    expect(r.hosts.db2).toEqual({ instanceId: 'i-0123456789abcdef0', serviceName: 'mariadb' });
    expect(() => reseedOf({ hosts: { db9: { instanceId: 'i-0123456789abcdef0' } } })).toThrow(
      /reseed\.hosts\.db9/,
    );
    expect(() => reseedOf({ hosts: { db2: { instanceId: 'i-1', serviceName: 'x;y' } } })).toThrow(
      /instanceId/,
    );
    expect(() => reseedOf({ method: 'rsync' })).toThrow(/reseed\.method/);
  });
});

describe('choosing how a server is rebuilt', () => {
  it('auto: physical above the threshold when the hosts are reachable, logical otherwise', () => {
    expect(chooseReseedMethod(facts()).method).toBe('physical');
    expect(chooseReseedMethod(facts({ sourceBytes: 4e9 })).method).toBe('logical');
    const unreachable = chooseReseedMethod(facts({ hostsReachable: false }));
    expect(unreachable).toMatchObject({ method: 'logical' });
    expect(unreachable.reason).toMatch(/not reachable/);
  });

  it('auto on MySQL: CLONE above the threshold when the server supports it', () => {
    expect(chooseReseedMethod(facts({ mariadb: false, supportsClone: true })).method).toBe('clone');
    expect(chooseReseedMethod(facts({ mariadb: false, supportsClone: false })).method).toBe('logical');
  });

  it('auto on MySQL: logical when the watchdog lacks a privilege CLONE needs, saying which', () => {
    const lacking = chooseReseedMethod(
      facts({ mariadb: false, supportsClone: true, cloneMissing: ['BACKUP_ADMIN on 10.0.0.1:3306'] }),
    );
    expect(lacking).toMatchObject({ method: 'logical' });
    expect(lacking.reason).toMatch(/lacks BACKUP_ADMIN on 10\.0\.0\.1:3306/);
    // physical: the server decides (a privilege held through a role does not show in the check).
    const config = reseedOf({ method: 'physical' });
    expect(
      chooseReseedMethod(
        facts({ config, mariadb: false, supportsClone: true, cloneMissing: ['CLONE_ADMIN'] }),
      ).method,
    ).toBe('clone');
  });

  it('physical: refused rather than silently downgraded when it cannot run', () => {
    const config = reseedOf({ method: 'physical' });
    expect(chooseReseedMethod(facts({ config, sourceBytes: 1 })).method).toBe('physical');
    expect(() => chooseReseedMethod(facts({ config, hostsReachable: false }))).toThrow(/not reachable/);
    expect(() => chooseReseedMethod(facts({ config, mariadb: false }))).toThrow(/8\.0\.17/);
  });

  it('logical always, except for a rebuild already started physically (a continuation never switches)', () => {
    const config = reseedOf({ method: 'logical' });
    expect(chooseReseedMethod(facts({ config })).method).toBe('logical');
    expect(chooseReseedMethod(facts({ sourceBytes: 1, alreadyPhysical: true })).method).toBe('physical');
  });
});

describe('reseed progress', () => {
  it('gives bytes, rate and ETA from the helper record', () => {
    const p = progressOf('db2', {
      stage: 'backup',
      rawBytes: 400 * 1048576,
      storedBytes: 100 * 1048576,
      expectedBytes: 1000 * 1048576,
      elapsedMs: 10_000,
      updatedAt: '2026-12-02T07:00:00.000Z',
      done: false,
    });
    expect(p).toMatchObject({
      bytes: 400 * 1048576,
      percent: 40,
      etaSeconds: 15,
      rateBytesPerSecond: 40 * 1048576,
    });
    expect(describeProgress(p)).toBe(
      'db2: physical backup 400.0 MB of 1000.0 MB (40%) at 40.0 MB/s, ETA 15 s',
    );
  });

  it('counts the compressed bytes fetched during a restore, and never a negative ETA', () => {
    const p = progressOf('db2', {
      stage: 'restore',
      rawBytes: 0,
      storedBytes: 300,
      expectedBytes: 200,
      elapsedMs: 1000,
      updatedAt: '',
      done: false,
    });
    expect(p.etaSeconds).toBe(0);
    expect(p.percent).toBe(100);
    expect(
      progressOf('db2', {
        ...p,
        stage: 'restore',
        rawBytes: 0,
        storedBytes: 0,
        expectedBytes: 0,
        elapsedMs: 0,
        done: false,
      }).etaSeconds,
    ).toBeNull();
  });

  it('gives a running CLONE bytes, rate and ETA from the stage in progress on the recipient', () => {
    const p = cloneProgressOf(
      'db2',
      { stage: 'FILE COPY', bytes: 300 * 1048576, estimate: 1200 * 1048576, stageMicros: 3_000_000 },
      '2026-12-03T07:00:00.000Z',
    );
    expect(p).toMatchObject({ method: 'clone', stage: 'file copy', percent: 25, etaSeconds: 9 });
    expect(describeProgress(p)).toBe(
      'db2: clone file copy 300.0 MB of 1200.0 MB (25%) at 100.0 MB/s, ETA 9 s',
    );
    // Before the stage has counted anything: no rate, no ETA.
    expect(
      cloneProgressOf('db2', { stage: 'DROP DATA', bytes: 0, estimate: 0, stageMicros: 0 }, ''),
    ).toMatchObject({ rateBytesPerSecond: 0, etaSeconds: null, percent: null });
  });
});
