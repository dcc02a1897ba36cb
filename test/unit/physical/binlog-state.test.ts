import { describe, expect, it } from 'vitest';
import { advanceState, formatState } from '../../../functions/operations/physical/binlog-state.js';

describe('the source binlog state at a backup position', () => {
  it('starts from the file’s Gtid_list and advances with every GTID event before the offset', () => {
    const state = new Map<string, bigint>();
    advanceState(state, 'Format_desc', 'Server ver: 10.11.18-MariaDB-log, Binlog ver: 4');
    advanceState(state, 'Gtid_list', '[0-7-3,0-1-15,1-2-4]');
    advanceState(state, 'Binlog_checkpoint', 'mysql-bin.000001');
    advanceState(state, 'Gtid', 'BEGIN GTID 0-1-16');
    advanceState(state, 'Query', 'COMMIT /* 0-1-99 is not a GTID event */');
    advanceState(state, 'Gtid', 'GTID 0-1-17 cid=42');
    expect(formatState(state)).toBe('0-1-17,0-7-3,1-2-4');
  });

  it('orders pairs numerically (domain, then server)', () => {
    const state = new Map<string, bigint>([
      ['10-1', 5n],
      ['2-11', 7n],
      ['2-3', 9n],
    ]);
    expect(formatState(state)).toBe('2-3-9,2-11-7,10-1-5');
  });
});
