import { describe, expect, it } from 'vitest';
import {
  emptyGtidSet,
  MariadbGtidPos,
  MysqlGtidSet,
  parseGtidSet,
  tryParseGtidSet,
} from '../../../functions/core/gtid.js';
import { GtidParseError } from '../../../functions/errors.js';

const U1 = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
const U2 = '8a94f357-aab4-11df-86ab-c80aa9429563';
const U3 = 'ffffffff-0000-11e1-9e33-000000000001';

/** Small deterministic PRNG so property cases are reproducible. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** A MySQL set as a plain model: uuid -> set of transaction numbers (small range, for brute force). */
type Model = Map<string, Set<number>>;

function randomModel(r: () => number): Model {
  const m: Model = new Map();
  for (const u of [U1, U2, U3]) {
    if (r() < 0.3) continue;
    const s = new Set<number>();
    for (let i = 1; i <= 30; i++) if (r() < 0.5) s.add(i);
    if (s.size > 0) m.set(u, s);
  }
  return m;
}

/** Formats a model in an unnormalised way (unsorted, split intervals, random whitespace/case). */
function messyText(m: Model, r: () => number): string {
  const parts: string[] = [];
  for (const [u, s] of m) {
    const nums = [...s].sort((a, b) => a - b);
    const ranges: string[] = [];
    let i = 0;
    while (i < nums.length) {
      let j = i;
      while (j + 1 < nums.length && nums[j + 1] === nums[j]! + 1 && r() < 0.7) j++;
      ranges.push(nums[i] === nums[j] ? `${nums[i]}` : `${nums[i]}-${nums[j]}`);
      i = j + 1;
    }
    ranges.sort(() => r() - 0.5);
    parts.push(`${r() < 0.5 ? u.toUpperCase() : u}:${ranges.join(':')}`);
  }
  return parts.join(r() < 0.5 ? ',\n' : ',');
}

function modelToSet(m: Model): string[] {
  const out: string[] = [];
  for (const [u, s] of m) for (const n of s) out.push(`${u}:${n}`);
  return out.sort();
}

function setToModelList(text: string): string[] {
  const set = MysqlGtidSet.parse(text);
  const out: string[] = [];
  for (const u of set.sourceIds()) {
    for (const [s, e] of set.intervals(u)) for (let n = s; n <= e; n++) out.push(`${u}:${n}`);
  }
  return out.sort();
}

describe('MySQL GTID sets', () => {
  it('parses the empty string, whitespace and newlines as the empty set', () => {
    for (const t of ['', '   ', '\n', ' \n\t ']) {
      const s = parseGtidSet(t, 'mysql');
      expect(s.isEmpty()).toBe(true);
      expect(s.toString()).toBe('');
      expect(s.count()).toBe(0n);
    }
    expect(parseGtidSet(null, 'mysql').isEmpty()).toBe(true);
  });

  it('reads gtid_executed as MySQL prints it, with a newline after each comma', () => {
    const s = parseGtidSet(`${U1}:1-5:7-9,\n${U2}:1-3`, 'mysql');
    expect(s.toString()).toBe(`${U1}:1-5:7-9,${U2}:1-3`);
    expect(s.count()).toBe(11n);
  });

  it('normalises order, case, adjacent and overlapping intervals the way MySQL prints them', () => {
    const s = parseGtidSet(`${U2}:3,${U1.toUpperCase()}:7-9:1-3:4-5:2-4,${U2}:1-2`, 'mysql');
    expect(s.toString()).toBe(`${U1}:1-5:7-9,${U2}:1-3`);
  });

  it('accepts uuids without dashes and tagged GTIDs of MySQL 8.3+', () => {
    expect(parseGtidSet(`${U1.replace(/-/g, '')}:1-2`, 'mysql').toString()).toBe(`${U1}:1-2`);
    const tagged = parseGtidSet(`${U1}:1-3:Batch_1:1-2:5`, 'mysql');
    expect(tagged.toString()).toBe(`${U1}:1-3:batch_1:1-2:5`);
    expect(tagged.count()).toBe(6n);
    expect(parseGtidSet(`${U1}:1-3`, 'mysql').isSubsetOf(tagged)).toBe(true);
    expect(tagged.isSubsetOf(parseGtidSet(`${U1}:1-3`, 'mysql'))).toBe(false);
  });

  it('holds transaction numbers beyond 2^53 exactly', () => {
    const big = '9223372036854775806-9223372036854775807';
    const s = parseGtidSet(`${U1}:${big}`, 'mysql');
    expect(s.toString()).toBe(`${U1}:${big}`);
    expect(s.count()).toBe(2n);
  });

  it.each([
    ['not-a-uuid:1-3'],
    [`${U1}`],
    [`${U1}:`],
    [`${U1}:0-3`],
    [`${U1}:5-3`],
    [`${U1}:1-3,,${U2}:1`],
    [`${U1}:1-x`],
    [`${U1}:9223372036854775808`],
    [`${U1}:tag`],
  ])('rejects %j with a GtidParseError', (text) => {
    expect(() => parseGtidSet(text, 'mysql')).toThrow(GtidParseError);
    expect(tryParseGtidSet(text, 'mysql').set).toBeNull();
  });

  it('agrees with a brute-force model on subset, difference, union and equality (300 random cases)', () => {
    const r = rng(42);
    for (let i = 0; i < 300; i++) {
      const ma = randomModel(r);
      const mb = randomModel(r);
      const ta = messyText(ma, r);
      const tb = messyText(mb, r);
      const a = parseGtidSet(ta, 'mysql');
      const b = parseGtidSet(tb, 'mysql');
      const la = modelToSet(ma);
      const lb = new Set(modelToSet(mb));
      // round trip: canonical text parses back to the same canonical text and the same elements
      expect(parseGtidSet(a.toString(), 'mysql').toString()).toBe(a.toString());
      expect(setToModelList(a.toString())).toEqual(la);
      expect(a.count()).toBe(BigInt(la.length));
      const diff = la.filter((x) => !lb.has(x));
      expect(setToModelList(a.difference(b).toString())).toEqual(diff);
      expect(a.isSubsetOf(b)).toBe(diff.length === 0);
      expect(b.contains(a)).toBe(diff.length === 0);
      const union = [...new Set([...la, ...lb])].sort();
      expect(setToModelList(a.union(b).toString())).toEqual(union);
      expect(a.equals(b)).toBe(JSON.stringify(la) === JSON.stringify([...lb].sort()));
      expect(a.difference(a).isEmpty()).toBe(true);
      expect(a.isSubsetOf(a.union(b))).toBe(true);
    }
  });

  it('refuses to compare a MySQL set with a MariaDB position', () => {
    expect(() => parseGtidSet(`${U1}:1`, 'mysql').isSubsetOf(parseGtidSet('0-1-1', 'mariadb'))).toThrow(
      /Cannot compare/,
    );
  });
});

describe('MariaDB GTID positions', () => {
  it('parses the empty string and whitespace as the empty position', () => {
    for (const t of ['', ' ', '\n']) expect(parseGtidSet(t, 'mariadb').isEmpty()).toBe(true);
    expect(emptyGtidSet('mariadb').toString()).toBe('');
  });

  it('parses several domains, sorts them by domain and round-trips', () => {
    const s = parseGtidSet('1-2-50, 0-1-100\n,2-3-7', 'mariadb') as MariadbGtidPos;
    expect(s.toString()).toBe('0-1-100,1-2-50,2-3-7');
    expect(s.domainIds()).toEqual([0, 1, 2]);
    expect(parseGtidSet(s.toString(), 'mariadb').equals(s)).toBe(true);
    expect(s.count()).toBe(157n);
  });

  it('keeps the highest seq when a domain appears with several server_ids (gtid_binlog_state style)', () => {
    expect(parseGtidSet('0-1-10,0-2-12,0-3-11', 'mariadb').toString()).toBe('0-2-12');
  });

  it('treats seq 0 as covering nothing', () => {
    expect(parseGtidSet('0-1-0', 'mariadb').isEmpty()).toBe(true);
  });

  it.each([['0-1'], ['0-1-2-3'], ['a-1-2'], ['0-1-2,,1-1-1'], ['-1-1-1'], ['4294967296-1-1']])(
    'rejects %j with a GtidParseError',
    (text) => {
      expect(() => parseGtidSet(text, 'mariadb')).toThrow(GtidParseError);
    },
  );

  it('is contained in a position that is at the same or a later seq in every domain', () => {
    const replica = parseGtidSet('0-1-10,1-2-5', 'mariadb');
    expect(replica.isSubsetOf(parseGtidSet('0-1-10,1-2-5', 'mariadb'))).toBe(true);
    expect(replica.isSubsetOf(parseGtidSet('0-1-12,1-2-5,2-9-1', 'mariadb'))).toBe(true);
    // a later seq by another server is the normal case after a failover: counted as contained
    expect(replica.isSubsetOf(parseGtidSet('0-2-15,1-2-5', 'mariadb'))).toBe(true);
  });

  it('reports the missing seq range when it is ahead of the other position', () => {
    const a = parseGtidSet('0-2-15,1-2-5', 'mariadb');
    const b = parseGtidSet('0-1-10', 'mariadb');
    const d = a.difference(b);
    expect(d.describe()).toBe('0-2-[11..15],1-2-5');
    expect(d.count()).toBe(10n);
    expect(d.toString()).toBe('0-2-15,1-2-5');
    expect(a.isSubsetOf(b)).toBe(false);
    expect(b.isSubsetOf(a)).toBe(true);
  });

  it('treats the same seq written by a different server as divergence on both sides', () => {
    const a = parseGtidSet('0-1-12', 'mariadb');
    const b = parseGtidSet('0-2-12', 'mariadb');
    expect(a.isSubsetOf(b)).toBe(false);
    expect(b.isSubsetOf(a)).toBe(false);
    expect(a.divergentDomains(b)).toEqual([0]);
    expect(a.difference(b).describe()).toBe('0-1-[12..12]');
    expect(a.equals(b)).toBe(false);
  });

  it('subtracts ranges from ranges (a difference of differences)', () => {
    const a = parseGtidSet('0-1-20', 'mariadb');
    const d1 = a.difference(parseGtidSet('0-1-10', 'mariadb')); // 11..20
    const d2 = a.difference(parseGtidSet('0-1-15', 'mariadb')); // 16..20
    expect(d1.difference(d2).describe()).toBe('0-1-[11..15]');
    expect(d2.isSubsetOf(d1)).toBe(true);
    expect(d1.isSubsetOf(d2)).toBe(false);
    expect(a.difference(d1).describe()).toBe('0-1-10');
  });

  it("finds an old primary's unreplicated writes below the new primary's later seq, with binlog states", () => {
    // A wrote 0-1-101..105 that never reached B; B was promoted and wrote up to 0-2-150.
    const a = MariadbGtidPos.parse('0-1-105').withBinlogState('0-1-105');
    const b = MariadbGtidPos.parse('0-2-150').withBinlogState('0-1-100,0-2-150');
    // positions alone cannot see it
    expect(MariadbGtidPos.parse('0-1-105').isSubsetOf(MariadbGtidPos.parse('0-2-150'))).toBe(true);
    expect(a.isSubsetOf(b)).toBe(false);
    expect(a.difference(b).describe()).toBe('0-1-[101..105]');
    // and B's new writes are missing on A (position rule)
    expect(b.difference(a).describe()).toBe('0-2-[106..150]');
  });

  it('counts every unreplicated write when the new primary is already past some of them by seq', () => {
    // A wrote 0-1-18..20; B had received up to 0-1-17, was promoted, and wrote 0-2-18.
    const a = MariadbGtidPos.parse('0-1-20').withBinlogState('0-1-20');
    const b = MariadbGtidPos.parse('0-2-18').withBinlogState('0-1-17,0-2-18');
    expect(a.difference(b).describe()).toBe('0-1-[18..20]');
    expect(a.difference(b).count()).toBe(3n);
    // without the states only the part above B's seq is visible
    expect(MariadbGtidPos.parse('0-1-20').difference(MariadbGtidPos.parse('0-2-18')).describe()).toBe(
      '0-1-[19..20]',
    );
  });

  it("does not call a reseeded server's reset binlog state a divergence", () => {
    // R was restored from a dump of P and replicated on: its state no longer lists server 1.
    const p = MariadbGtidPos.parse('0-2-150').withBinlogState('0-1-100,0-2-150');
    const r = MariadbGtidPos.parse('0-2-150').withBinlogState('0-2-150');
    expect(r.isSubsetOf(p)).toBe(true);
    expect(p.isSubsetOf(r)).toBe(true);
    // a replica that saw every server's stream is contained as well
    const r2 = MariadbGtidPos.parse('0-2-140').withBinlogState('0-1-100,0-2-140');
    expect(r2.isSubsetOf(p)).toBe(true);
    expect(p.difference(r2).describe()).toBe('0-2-[141..150]');
  });

  it('rejects a malformed binlog state', () => {
    expect(() => MariadbGtidPos.parse('0-1-1').withBinlogState('0-1')).toThrow(GtidParseError);
    expect(MariadbGtidPos.parse('0-1-1').withBinlogState(null).binlogState).toBeNull();
  });

  it('satisfies the set laws on random positions (300 cases)', () => {
    const r = rng(7);
    const rand = (): string => {
      const parts: string[] = [];
      for (let d = 0; d < 3; d++)
        if (r() < 0.6) parts.push(`${d}-${1 + Math.floor(r() * 2)}-${1 + Math.floor(r() * 6)}`);
      return parts.join(',');
    };
    for (let i = 0; i < 300; i++) {
      const a = parseGtidSet(rand(), 'mariadb');
      const b = parseGtidSet(rand(), 'mariadb');
      expect(parseGtidSet(a.toString(), 'mariadb').equals(a)).toBe(true);
      expect(a.difference(a).isEmpty()).toBe(true);
      expect(a.isSubsetOf(a)).toBe(true);
      expect(a.difference(b).isEmpty()).toBe(a.isSubsetOf(b));
      expect(a.difference(b).isSubsetOf(a)).toBe(true);
      if (a.divergentDomains(b).length === 0) {
        // without divergence a position is inside any union with another one
        expect(a.isSubsetOf(a.union(b))).toBe(true);
        // and the per-domain seq order decides containment
        const pa = a as MariadbGtidPos;
        const pb = b as MariadbGtidPos;
        const expected = pa.domainIds().every((d) => (pb.domain(d)?.seq ?? 0n) >= pa.domain(d)!.seq);
        expect(a.isSubsetOf(b)).toBe(expected);
      } else {
        expect(a.isSubsetOf(b) || b.isSubsetOf(a)).toBe(false);
      }
      expect(a.equals(b)).toBe(a.isSubsetOf(b) && b.isSubsetOf(a));
    }
  });
});
