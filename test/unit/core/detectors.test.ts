/**
 * The detector list is the analysis' precedence contract: every code has a detector, names are unique,
 * the last detector always decides, and each detector is a pure function of the facts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ANALYSIS_CODES, analyze } from '../../../functions/core/analysis.js';
import { DETECTORS, facts, SERVER_CHECKS } from '../../../functions/core/detectors.js';
import {
  gtidValue,
  hydrateSnapshot,
  type ServerGtid,
  type Snapshot,
} from '../../../functions/core/snapshot.js';

const fixture = (name: string): Snapshot =>
  hydrateSnapshot(
    JSON.parse(
      readFileSync(join(import.meta.dirname, `../../fixtures/snapshots/${name}.json`), 'utf8'),
    ) as Snapshot,
  );

describe('analysis detectors', () => {
  it('give every analysis code a detector that may return it', () => {
    const produced = new Set(DETECTORS.flatMap((d) => d.codes));
    expect(ANALYSIS_CODES.filter((c) => !produced.has(c))).toEqual([]);
  });

  it('have unique names, in detectors and in server checks', () => {
    const names = DETECTORS.map((d) => d.name);
    expect(new Set(names).size).toBe(names.length);
    const checks = SERVER_CHECKS.map((c) => c.name);
    expect(new Set(checks).size).toBe(checks.length);
  });

  it('end with the primary-findings detector, which decides when no other does (Ok)', () => {
    const last = DETECTORS.at(-1)!;
    expect(last.name).toBe('primary-findings');
    const f = facts(fixture('Ok'), {}, ANALYSIS_CODES);
    expect(DETECTORS.slice(0, -1).map((d) => d.detect(f))).toEqual(DETECTORS.slice(0, -1).map(() => null));
    expect(last.detect(f)?.code).toBe('Ok');
  });

  it('decide by the first detector in the list that finds something (AllDown before RoutersUnreachable)', () => {
    const s = fixture('AllDown');
    const f = facts(s, {}, ANALYSIS_CODES);
    const deciding = DETECTORS.filter((d) => d.detect(f) !== null).map((d) => d.name);
    expect(deciding[0]).toBe('all-down');
    expect(analyze(s).code).toBe('AllDown');
  });

  it('return only the codes they declare, on every golden snapshot', () => {
    for (const name of ['Ok', 'PrimaryDead', 'FailoverNeeded.after-kill', 'RecoverNeeded', 'ReplicaDown']) {
      const f = facts(fixture(name), {}, ANALYSIS_CODES);
      for (const d of DETECTORS) {
        const v = d.detect(f);
        if (v) expect(d.codes, `${d.name} on ${name}`).toContain(v.code);
      }
    }
  });

  describe('a replica read a moment after its primary (both probed at once, writes continuing)', () => {
    /** MariaDB positions: the binary log position and state at one seq of domain 0, server 1. */
    const at = (seq: number): ServerGtid => ({
      executed: gtidValue(null, 'mariadb'),
      binlogPos: gtidValue(`0-1-${seq}`, 'mariadb'),
      slavePos: gtidValue(`0-1-${seq}`, 'mariadb'),
      currentPos: gtidValue(`0-1-${seq}`, 'mariadb'),
      binlogState: { raw: `0-1-${seq}` },
    });
    const ahead = (primaryLater: ServerGtid | undefined): Snapshot => {
      const s = fixture('Ok');
      const [primary, replica] = s.servers;
      primary!.gtid = at(14);
      replica!.gtid = at(17);
      if (primaryLater) primary!.gtidLater = primaryLater;
      return s;
    };

    it('is not diverged when the primary, read again after it, has what the replica has', () => {
      expect(analyze(ahead(at(18))).code).toBe('Ok');
    });

    it('is diverged when the primary, read again after it, still lacks them', () => {
      const a = analyze(ahead(at(14)));
      expect(a.code).toBe('ReplicaErrantTransactions');
      expect(a.evidence[0]).toMatch(/has 3 transaction\(s\) .* lacks: 0-1-\[15..17\]/);
    });

    it('is compared with the first read when no later one was taken (as before)', () => {
      expect(analyze(ahead(undefined)).code).toBe('ReplicaErrantTransactions');
    });
  });
});
