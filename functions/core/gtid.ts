/**
 * GTID sets for both flavors, parsed once into immutable values with set operations.
 *
 * MySQL (`gtid_executed`, `Retrieved_Gtid_Set`, ...): `uuid:1-5:7-9,uuid2:1-3`, optionally with 8.3+
 * tags (`uuid:1-3:tag:1-2`). This is a true set of transactions, so subset / difference / equality are
 * exact interval arithmetic. Transaction numbers go up to 2^63-1, so they are held as bigint.
 *
 * MariaDB (`gtid_binlog_pos`, `gtid_current_pos`, `gtid_slave_pos`): `domain-server-seq` per domain.
 * That is a *position*, not a set: it names the last transaction of each replication domain. With
 * `gtid_strict_mode` sequence numbers only grow inside a domain, so position `0-1-10` stands for
 * "domain 0, seq 1..10". The semantics we define on it:
 *  - A is contained in B when, for every domain of A, B has that domain with seq >= A's seq; and when
 *    the seqs are equal the server_ids are equal too. Same seq with a different server_id means two
 *    servers wrote different transactions under the same number: *divergence* — then neither contains
 *    the other, and `divergentDomains` names the domain.
 *  - A different server_id at a *higher* seq in B is normal (the new primary wrote after taking over)
 *    and cannot be told apart from divergence by positions alone; it counts as contained. Positions
 *    cannot see an old divergence below the current seq either; the replica's own SQL thread error
 *    (out-of-order GTID under strict mode) is the evidence for that, and the analysis uses it.
 *  - Where both sides also carry their gtid_binlog_state (last seq per domain AND server), a
 *    divergence hidden below a later seq is detected too: see `MariadbGtidPos.withBinlogState`.
 *  - A \ B, per domain not contained: the range B.seq+1 .. A.seq (or the whole A.seq entry when
 *    diverged). Such a difference is a *range* position; `toString()` prints its end position (which
 *    is what MariaDB syntax can say) and `describe()` prints the range.
 */
import { GtidParseError, WatchdogError } from '../errors.js';

export type GtidFlavor = 'mysql' | 'mariadb';

export interface GtidSet {
  readonly flavor: GtidFlavor;
  isEmpty(): boolean;
  /** Every transaction of this set is also in `other` (MariaDB: see the module comment). */
  isSubsetOf(other: GtidSet): boolean;
  /** `other` is a subset of this set. */
  contains(other: GtidSet): boolean;
  /** The transactions of this set that `other` lacks. */
  difference(other: GtidSet): GtidSet;
  union(other: GtidSet): GtidSet;
  equals(other: GtidSet): boolean;
  /** Number of transactions in the set (MariaDB: seq numbers covered per domain). */
  count(): bigint;
  /** MariaDB: domains where both name the same seq written by different servers. MySQL: always []. */
  divergentDomains(other: GtidSet): number[];
  /** The canonical text in the flavor's own syntax (parse(toString()) round-trips). */
  toString(): string;
  /** A human-readable form; differs from toString only for MariaDB ranges. */
  describe(): string;
}

export function parseGtidSet(text: string | null | undefined, flavor: GtidFlavor): GtidSet {
  return flavor === 'mysql' ? MysqlGtidSet.parse(text ?? '') : MariadbGtidPos.parse(text ?? '');
}

export function emptyGtidSet(flavor: GtidFlavor): GtidSet {
  return flavor === 'mysql' ? MysqlGtidSet.EMPTY : MariadbGtidPos.EMPTY;
}

/** Parses without throwing: a malformed value becomes `null` plus the parse error's message. */
export function tryParseGtidSet(
  text: string | null | undefined,
  flavor: GtidFlavor,
): { set: GtidSet | null; error: string | null } {
  try {
    return { set: parseGtidSet(text, flavor), error: null };
  } catch (error) {
    return { set: null, error: error instanceof Error ? error.message : String(error) };
  }
}

function sameFlavor<T extends GtidSet>(a: GtidSet, b: GtidSet, is: (x: GtidSet) => x is T): T {
  if (a.flavor !== b.flavor || !is(b)) {
    throw new WatchdogError(`Cannot compare a ${a.flavor} GTID set with a ${b.flavor} one`, {
      details: { left: a.toString(), right: b.toString() },
    });
  }
  return b;
}

function isMysql(x: GtidSet): x is MysqlGtidSet {
  return x instanceof MysqlGtidSet;
}

function isMariadb(x: GtidSet): x is MariadbGtidPos {
  return x instanceof MariadbGtidPos;
}

const bmax = (a: bigint, b: bigint): bigint => (a > b ? a : b);
const bmin = (a: bigint, b: bigint): bigint => (a < b ? a : b);

// ---------------------------------------------------------------- MySQL

/** Inclusive interval [start, end]. */
type Interval = readonly [bigint, bigint];

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/;
const TAG_RE = /^[a-z_][a-z0-9_]{0,31}$/;
const NUM_RE = /^\d+$/;
const MAX_GNO = (1n << 63n) - 1n;

function normalizeUuid(raw: string): string {
  const hex = raw.replace(/-/g, '');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Sorts and merges touching/overlapping intervals (1-3 and 4-5 become 1-5, as MySQL prints them). */
function normalizeIntervals(intervals: Interval[]): Interval[] {
  const sorted = [...intervals].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: [bigint, bigint][] = [];
  for (const [s, e] of sorted) {
    const last = out[out.length - 1];
    if (last && s <= last[1] + 1n) {
      if (e > last[1]) last[1] = e;
    } else {
      out.push([s, e]);
    }
  }
  return out;
}

function subtractIntervals(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  for (const [s0, e0] of a) {
    let s = s0;
    for (const [bs, be] of b) {
      if (be < s) continue;
      if (bs > e0) break;
      if (bs > s) out.push([s, bs - 1n]);
      s = be + 1n;
      if (s > e0) break;
    }
    if (s <= e0) out.push([s, e0]);
  }
  return out;
}

/** Key of a MySQL GTID source: `uuid` or `uuid:tag` (MySQL 8.3+ tagged GTIDs). */
export class MysqlGtidSet implements GtidSet {
  readonly flavor = 'mysql' as const;
  static readonly EMPTY = new MysqlGtidSet(new Map());

  private constructor(private readonly sources: ReadonlyMap<string, readonly Interval[]>) {}

  static parse(text: string): MysqlGtidSet {
    // MySQL prints long gtid_executed values with "\n" after each comma; any whitespace is insignificant.
    const compact = text.replace(/\s+/g, '');
    const map = new Map<string, Interval[]>();
    if (compact === '') return MysqlGtidSet.EMPTY;
    for (const part of compact.split(',')) {
      if (part === '') throw new GtidParseError(`Empty element in MySQL GTID set "${text}"`);
      const [uuidRaw, ...rest] = part.split(':');
      const uuidLower = (uuidRaw ?? '').toLowerCase();
      if (!UUID_RE.test(uuidLower)) {
        throw new GtidParseError(`Invalid source UUID "${uuidRaw}" in MySQL GTID set "${text}"`);
      }
      const uuid = normalizeUuid(uuidLower);
      if (rest.length === 0) throw new GtidParseError(`No transaction range for ${uuid} in "${text}"`);
      let tag = '';
      let sawRange = false;
      for (const seg of rest) {
        const m = /^(\d+)(?:-(\d+))?$/.exec(seg);
        if (!m) {
          const lower = seg.toLowerCase();
          if (!TAG_RE.test(lower)) throw new GtidParseError(`Invalid interval or tag "${seg}" in "${text}"`);
          tag = lower;
          continue;
        }
        const start = BigInt(m[1]!);
        const end = m[2] === undefined ? start : BigInt(m[2]);
        if (start < 1n || end < start || end > MAX_GNO) {
          throw new GtidParseError(`Invalid interval "${seg}" in MySQL GTID set "${text}"`);
        }
        const key = tag === '' ? uuid : `${uuid}:${tag}`;
        const list = map.get(key) ?? [];
        list.push([start, end]);
        map.set(key, list);
        sawRange = true;
      }
      if (!sawRange) throw new GtidParseError(`No transaction range for ${uuid} in "${text}"`);
    }
    return MysqlGtidSet.fromMap(map);
  }

  private static fromMap(map: Map<string, Interval[]>): MysqlGtidSet {
    const out = new Map<string, Interval[]>();
    for (const key of [...map.keys()].sort()) {
      const merged = normalizeIntervals(map.get(key) ?? []);
      if (merged.length > 0) out.set(key, merged);
    }
    return out.size === 0 ? MysqlGtidSet.EMPTY : new MysqlGtidSet(out);
  }

  /** Source keys (`uuid` or `uuid:tag`) present in the set, sorted. */
  sourceIds(): string[] {
    return [...this.sources.keys()];
  }

  intervals(source: string): readonly Interval[] {
    return this.sources.get(source) ?? [];
  }

  isEmpty(): boolean {
    return this.sources.size === 0;
  }

  isSubsetOf(other: GtidSet): boolean {
    return this.difference(other).isEmpty();
  }

  contains(other: GtidSet): boolean {
    return other.isSubsetOf(this);
  }

  difference(other: GtidSet): MysqlGtidSet {
    const o = sameFlavor(this, other, isMysql);
    const map = new Map<string, Interval[]>();
    for (const [key, list] of this.sources) {
      map.set(key, subtractIntervals(list, o.sources.get(key) ?? []));
    }
    return MysqlGtidSet.fromMap(map);
  }

  union(other: GtidSet): MysqlGtidSet {
    const o = sameFlavor(this, other, isMysql);
    const map = new Map<string, Interval[]>();
    for (const src of [this.sources, o.sources]) {
      for (const [key, list] of src) map.set(key, [...(map.get(key) ?? []), ...list]);
    }
    return MysqlGtidSet.fromMap(map);
  }

  equals(other: GtidSet): boolean {
    return other.flavor === 'mysql' && this.toString() === other.toString();
  }

  count(): bigint {
    let n = 0n;
    for (const list of this.sources.values()) for (const [s, e] of list) n += e - s + 1n;
    return n;
  }

  divergentDomains(): number[] {
    return [];
  }

  toString(): string {
    // Tagged keys of one uuid are printed after its untagged ranges, the way MySQL 8.3+ prints them.
    const byUuid = new Map<string, string[]>();
    for (const [key, list] of this.sources) {
      const [uuid, tag] = key.split(':') as [string, string | undefined];
      const ranges = list.map(([s, e]) => (s === e ? `${s}` : `${s}-${e}`)).join(':');
      const parts = byUuid.get(uuid) ?? [];
      parts.push(tag === undefined ? ranges : `${tag}:${ranges}`);
      byUuid.set(uuid, parts);
    }
    return [...byUuid].map(([uuid, parts]) => `${uuid}:${parts.join(':')}`).join(',');
  }

  describe(): string {
    return this.toString();
  }
}

// ---------------------------------------------------------------- MariaDB

export interface MariadbDomainPos {
  readonly domainId: number;
  readonly serverId: number;
  /** Last seq_no of the domain. */
  readonly seq: bigint;
  /**
   * Seq numbers up to and including `fromSeqExclusive` are NOT covered (0 for a parsed position, which
   * covers 1..seq). Only differences have a non-zero value.
   */
  readonly fromSeqExclusive: bigint;
}

const MAX_U32 = 4294967295;
const MAX_U64 = (1n << 64n) - 1n;

/** gtid_binlog_state: domain -> server_id -> last seq that server wrote in that domain. */
export type MariadbBinlogState = ReadonlyMap<number, ReadonlyMap<number, bigint>>;

export class MariadbGtidPos implements GtidSet {
  readonly flavor = 'mariadb' as const;
  static readonly EMPTY = new MariadbGtidPos(new Map());

  private constructor(
    private readonly domains: ReadonlyMap<number, MariadbDomainPos>,
    /** The server's gtid_binlog_state, when known (see `withBinlogState`). */
    readonly binlogState: MariadbBinlogState | null = null,
  ) {}

  /** Parses a gtid_binlog_state value: every domain-server-seq triple is kept. */
  static parseBinlogState(text: string): MariadbBinlogState {
    const out = new Map<number, Map<number, bigint>>();
    const compact = text.replace(/\s+/g, '');
    if (compact === '') return out;
    for (const part of compact.split(',')) {
      const fields = part.split('-');
      if (fields.length !== 3 || !fields.every((f) => NUM_RE.test(f))) {
        throw new GtidParseError(`Invalid MariaDB GTID "${part}" in binlog state "${text}"`);
      }
      const d = Number(fields[0]);
      const srv = Number(fields[1]);
      const seq = BigInt(fields[2]!);
      const servers = out.get(d) ?? new Map<number, bigint>();
      if ((servers.get(srv) ?? -1n) < seq) servers.set(srv, seq);
      out.set(d, servers);
    }
    return out;
  }

  /**
   * The same position, with the server's gtid_binlog_state attached. Differences between two
   * positions that both carry a state also see what positions alone cannot: when this server has
   * transactions of server S in domain D up to seq a, and the other server's state shows it saw S's
   * transactions in D only up to b < a, then S's b+1..a are missing there — even if the other
   * position is at a higher seq (written by someone else after a failover). A state entry the other
   * side lacks entirely proves nothing (its binary log may have been reset by a reseed), so it falls
   * back to the position rule.
   */
  withBinlogState(text: string | null | undefined): MariadbGtidPos {
    if (text === null || text === undefined) return this;
    return new MariadbGtidPos(this.domains, MariadbGtidPos.parseBinlogState(text));
  }

  static parse(text: string): MariadbGtidPos {
    const compact = text.replace(/\s+/g, '');
    if (compact === '') return MariadbGtidPos.EMPTY;
    const map = new Map<number, MariadbDomainPos>();
    for (const part of compact.split(',')) {
      const fields = part.split('-');
      if (fields.length !== 3 || !fields.every((f) => NUM_RE.test(f))) {
        throw new GtidParseError(`Invalid MariaDB GTID "${part}" in "${text}" (expected domain-server-seq)`);
      }
      const domainId = Number(fields[0]);
      const serverId = Number(fields[1]);
      const seq = BigInt(fields[2]!);
      if (domainId > MAX_U32 || serverId > MAX_U32 || seq > MAX_U64) {
        throw new GtidParseError(`MariaDB GTID "${part}" out of range in "${text}"`);
      }
      const prev = map.get(domainId);
      // A position names one GTID per domain. A state-like list (several server_ids per domain, as in
      // gtid_binlog_state) keeps the highest seq, which is the position MariaDB itself would report.
      if (!prev || seq > prev.seq) map.set(domainId, { domainId, serverId, seq, fromSeqExclusive: 0n });
    }
    return MariadbGtidPos.fromMap(map);
  }

  private static fromMap(map: Map<number, MariadbDomainPos>): MariadbGtidPos {
    const out = new Map<number, MariadbDomainPos>();
    for (const id of [...map.keys()].sort((a, b) => a - b)) {
      const d = map.get(id)!;
      // seq 0 covers no transaction (a fresh gtid_slave_pos may say 0-1-0): such a domain is empty.
      if (d.seq > d.fromSeqExclusive) out.set(id, d);
    }
    return out.size === 0 ? MariadbGtidPos.EMPTY : new MariadbGtidPos(out);
  }

  domainIds(): number[] {
    return [...this.domains.keys()];
  }

  domain(id: number): MariadbDomainPos | undefined {
    return this.domains.get(id);
  }

  isEmpty(): boolean {
    return this.domains.size === 0;
  }

  isSubsetOf(other: GtidSet): boolean {
    return this.difference(other).isEmpty();
  }

  contains(other: GtidSet): boolean {
    return other.isSubsetOf(this);
  }

  difference(other: GtidSet): MariadbGtidPos {
    const o = sameFlavor(this, other, isMariadb);
    const map = new Map<number, MariadbDomainPos>();
    for (const [id, mine] of this.domains) {
      const theirs = o.domains.get(id);
      if (!theirs) {
        map.set(id, mine);
      } else if (theirs.seq === mine.seq && theirs.serverId !== mine.serverId) {
        // Divergence: our last transaction is not theirs, although the number is the same.
        map.set(id, {
          ...mine,
          fromSeqExclusive: bmax(mine.seq - 1n, mine.fromSeqExclusive),
        });
      } else if (theirs.seq < mine.seq) {
        const from = bmax(theirs.seq, mine.fromSeqExclusive);
        map.set(id, { ...mine, fromSeqExclusive: from });
      } else if (mine.fromSeqExclusive < theirs.fromSeqExclusive) {
        // Both are ranges (differences of differences): what we cover below their start remains.
        const end = bmin(theirs.fromSeqExclusive, mine.seq);
        map.set(id, { ...mine, seq: end });
      }
    }
    if (this.binlogState && o.binlogState) {
      for (const [id, servers] of this.binlogState) {
        if (!this.domains.has(id)) continue;
        for (const [serverId, seq] of servers) {
          const seen = o.binlogState.get(id)?.get(serverId);
          if (seen === undefined || seen >= seq) continue;
          const prev = map.get(id);
          if (prev && prev.serverId === serverId) {
            // The position rule saw only the part above the other side's (later) seq; the state shows
            // how far the other side really got with this server's transactions: widen the range.
            map.set(id, {
              ...prev,
              seq: bmax(prev.seq, seq),
              fromSeqExclusive: bmin(prev.fromSeqExclusive, seen),
            });
          } else if (!prev || seq - seen > prev.seq - prev.fromSeqExclusive) {
            map.set(id, { domainId: id, serverId, seq, fromSeqExclusive: seen });
          }
        }
      }
    }
    return MariadbGtidPos.fromMap(map);
  }

  union(other: GtidSet): MariadbGtidPos {
    const o = sameFlavor(this, other, isMariadb);
    const map = new Map<number, MariadbDomainPos>(this.domains);
    for (const [id, theirs] of o.domains) {
      const mine = map.get(id);
      if (!mine) {
        map.set(id, theirs);
        continue;
      }
      const hi = theirs.seq > mine.seq ? theirs : mine;
      const lo = bmin(mine.fromSeqExclusive, theirs.fromSeqExclusive);
      map.set(id, { ...hi, fromSeqExclusive: lo });
    }
    return MariadbGtidPos.fromMap(map);
  }

  equals(other: GtidSet): boolean {
    return other.flavor === 'mariadb' && this.describe() === other.describe();
  }

  count(): bigint {
    let n = 0n;
    for (const d of this.domains.values()) n += d.seq - d.fromSeqExclusive;
    return n;
  }

  divergentDomains(other: GtidSet): number[] {
    const o = sameFlavor(this, other, isMariadb);
    const out: number[] = [];
    for (const [id, mine] of this.domains) {
      const theirs = o.domains.get(id);
      if (theirs && theirs.seq === mine.seq && theirs.serverId !== mine.serverId) out.push(id);
    }
    return out;
  }

  toString(): string {
    return [...this.domains.values()].map((d) => `${d.domainId}-${d.serverId}-${d.seq}`).join(',');
  }

  describe(): string {
    return [...this.domains.values()]
      .map((d) =>
        d.fromSeqExclusive === 0n
          ? `${d.domainId}-${d.serverId}-${d.seq}`
          : `${d.domainId}-${d.serverId}-[${d.fromSeqExclusive + 1n}..${d.seq}]`,
      )
      .join(',');
  }
}
