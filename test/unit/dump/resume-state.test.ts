import { describe, expect, it } from 'vitest';
import type { DumpObject } from '../../../functions/dump/manifest.js';
import {
  type DumpPlan,
  keepParts,
  type SessionRecord,
  type StoredState,
} from '../../../functions/dump/resume-state.js';

const plan: DumpPlan = {
  tables: [
    { schema: 's', name: 'big', columns: ['`id`', '`k`'] },
    { schema: 's', name: 'heap', columns: ['`a`'] },
  ],
  parts: [
    { key: 'heap.0', schema: 's', table: 'heap', chunk: 0, where: null, firstSession: true },
    { key: 'big.0', schema: 's', table: 'big', chunk: 0, where: '`id` < 10', firstSession: false },
    { key: 'big.1', schema: 's', table: 'big', chunk: 1, where: '`id` >= 10', firstSession: false },
  ],
};

const session = (n: number, position: string, extra: Partial<SessionRecord> = {}): SessionRecord => ({
  session: n,
  started: '2026-01-01T00:00:00Z',
  serverId: 1,
  flavor: 'mariadb',
  gtid: { position },
  rowBinlog: true,
  ...extra,
});

const part = (key: string, n: number) => ({
  session: n,
  object: { key, kind: 'data', rows: 1, bytes: 1, compressedBytes: 1, sha256: '0'.repeat(64) } as DumpObject,
});

describe('which parts a resumed dump keeps', () => {
  const stored = (parts: ReturnType<typeof part>[], sessions = [session(0, '0-1-10')]): StoredState => ({
    plan,
    sessions,
    parts,
  });

  it('keeps parts of an earlier call when the position only grew and the key-less table was read first', () => {
    const d = keepParts(stored([part('heap.0', 0), part('big.0', 0)]), session(1, '0-1-25'));
    expect(d.discarded).toBeUndefined();
    expect(d.kept.map((p) => p.object.key)).toEqual(['heap.0', 'big.0']);
  });

  it('starts over when the table without a primary key was not read by the earliest kept call', () => {
    const sessions = [session(0, '0-1-10'), session(1, '0-1-20')];
    const d = keepParts(stored([part('big.0', 0), part('heap.0', 1)], sessions), session(2, '0-1-30'));
    expect(d.kept).toEqual([]);
    expect(d.discarded).toMatch(/heap\.0 must be read at the earliest position/);
  });

  it('starts over when the source does not log full row images', () => {
    const d = keepParts(stored([part('heap.0', 0)]), session(1, '0-1-25', { rowBinlog: false }));
    expect(d.discarded).toMatch(/binlog_format=ROW/);
  });

  it('starts over when another server is read or the position went back', () => {
    expect(keepParts(stored([part('heap.0', 0)]), session(1, '0-1-25', { serverId: 2 })).discarded).toMatch(
      /server_id 1/,
    );
    expect(keepParts(stored([part('heap.0', 0)]), session(1, '0-1-5')).discarded).toMatch(/does not follow/);
  });

  it('ignores records of parts the plan does not have', () => {
    const d = keepParts(stored([part('gone.0', 0)]), session(1, '0-1-25'));
    expect(d).toEqual({ kept: [] });
  });
});
