/**
 * The pure parts of salvage: transactions from SHOW BINLOG EVENTS, what a server's binary log says it
 * has, and `mariadb-binlog --verbose` output cut into replayable transactions with decoded rows.
 */
import { describe, expect, it } from 'vitest';
import {
  inventoryFromEvents,
  inventoryHas,
  splitBinlogText,
  transactionsFromEvents,
} from '../../../functions/operations/salvage.js';

const ev = (Pos: number, Event_type: string, Info: string) => ({
  Log_name: 'mysql-bin.000001',
  Pos,
  Event_type,
  Info,
});

const oldEvents = [
  ev(4, 'Format_desc', 'Server ver: 10.11.6-MariaDB-log, Binlog ver: 4'),
  ev(256, 'Gtid_list', '[0-1-17]'),
  ev(300, 'Gtid', 'BEGIN GTID 0-1-18'),
  ev(342, 'Annotate_rows', 'INSERT INTO harness.writes VALUES (...)'),
  ev(400, 'Table_map', 'table_id: 33 (harness.writes)'),
  ev(460, 'Write_rows_v1', 'table_id: 33 flags: STMT_END_F'),
  ev(520, 'Xid', 'COMMIT /* xid=90 */'),
  ev(551, 'Gtid', 'GTID 0-1-19'),
  ev(593, 'Query', 'CREATE TABLE IF NOT EXISTS harness.t2 (id INT)'),
];

describe('transactionsFromEvents', () => {
  it('groups events by GTID with the tables and statements of each transaction', () => {
    const tx = transactionsFromEvents('mysql-bin.000001', oldEvents);
    expect(tx).toEqual([
      {
        gtid: '0-1-18',
        file: 'mysql-bin.000001',
        position: 300,
        tables: ['harness.writes'],
        statements: [],
        rowEvents: 1,
      },
      {
        gtid: '0-1-19',
        file: 'mysql-bin.000001',
        position: 551,
        tables: [],
        statements: ['CREATE TABLE IF NOT EXISTS harness.t2 (id INT)'],
        rowEvents: 0,
      },
    ]);
  });
});

describe('inventory of the new primary', () => {
  it('knows a transaction by its exact GTID, not by a higher seq of another server', () => {
    // The new primary wrote 0-2-18 itself after the failover: seq 18 does not mean it has 0-1-18.
    const inv = inventoryFromEvents([
      [ev(256, 'Gtid_list', '[0-1-17]'), ev(300, 'Gtid', 'BEGIN GTID 0-2-18')],
    ]);
    expect(inventoryHas(inv, { domain: 0, server: 1, seq: 17n })).toBe(true);
    expect(inventoryHas(inv, { domain: 0, server: 2, seq: 18n })).toBe(true);
    expect(inventoryHas(inv, { domain: 0, server: 1, seq: 18n })).toBe(false);
  });

  it('counts what the first file says was there before the log began (after a reseed)', () => {
    const inv = inventoryFromEvents([
      [ev(256, 'Gtid_list', '[0-1-40,0-2-18]')],
      [ev(256, 'Gtid_list', '[0-1-41]'), ev(300, 'Gtid', 'GTID 0-1-42')],
    ]);
    expect(inventoryHas(inv, { domain: 0, server: 2, seq: 18n })).toBe(true);
    expect(inventoryHas(inv, { domain: 0, server: 2, seq: 19n })).toBe(false);
    expect(inventoryHas(inv, { domain: 0, server: 1, seq: 42n })).toBe(true);
  });
});

const verbose = `/*!50530 SET @@SESSION.PSEUDO_SLAVE_MODE=1*/;
DELIMITER /*!*/;
# at 4
#261125 21:40:00 server id 1  end_log_pos 256 CRC32 0x1 	Start: binlog v 4, server v 10.11.6-MariaDB-log created 261125 21:40:00
BINLOG '
AAAAAAAA
'/*!*/;
# at 300
#261125 21:40:01 server id 1  end_log_pos 342 CRC32 0x2 	GTID 0-1-18 trans
/*!100001 SET @@session.gtid_seq_no=18*//*!*/;
START TRANSACTION
/*!*/;
# at 400
#261125 21:40:01 server id 1  end_log_pos 460 CRC32 0x3 	Write_rows: table id 33 flags: STMT_END_F
BINLOG '
BBBBBBBB
'/*!*/;
### INSERT INTO \`harness\`.\`writes\`
### SET
###   @1=1795643083839847001
###   @2='db1'
# at 520
#261125 21:40:01 server id 1  end_log_pos 551 CRC32 0x4 	Xid = 90
COMMIT/*!*/;
# at 551
#261125 21:40:02 server id 1  end_log_pos 593 CRC32 0x5 	GTID 0-1-19 ddl
/*!100001 SET @@session.gtid_seq_no=19*//*!*/;
CREATE TABLE IF NOT EXISTS harness.t2 (id INT)
/*!*/;
DELIMITER ;
`;

describe('splitBinlogText', () => {
  it('keeps the format description header and one segment per GTID with decoded rows', () => {
    const { header, segments } = splitBinlogText(verbose);
    expect(header).toContain('AAAAAAAA');
    expect(header).not.toContain('GTID 0-1-18');
    expect([...segments.keys()]).toEqual(['0-1-18', '0-1-19']);
    const first = segments.get('0-1-18')!;
    expect(first.text.startsWith('# at 300')).toBe(true);
    expect(first.text).toContain('COMMIT');
    expect(first.text).not.toContain('GTID 0-1-19');
    expect(first.rows).toEqual([
      { op: 'INSERT', table: 'harness.writes', values: ['@1=1795643083839847001', "@2='db1'"] },
    ]);
    expect(segments.get('0-1-19')!.rows).toEqual([]);
    expect(segments.get('0-1-19')!.text).toContain('CREATE TABLE IF NOT EXISTS harness.t2');
  });
});
