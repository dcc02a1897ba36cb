/**
 * The pure parts of salvage: transactions from SHOW BINLOG EVENTS, what a server's binary log says it
 * has, and `mariadb-binlog --verbose` / MySQL `mysqlbinlog --verbose` output cut into replayable
 * transactions with decoded rows.
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

/** MySQL 9.7.4's `mysqlbinlog --read-from-remote-server --verbose` (base64 lines cut short). */
const mysqlVerbose = `# The proper term is pseudo_replica_mode, but we use this compatibility alias
# to make the statement usable on server versions 8.0.24 and older.
/*!50530 SET @@SESSION.PSEUDO_SLAVE_MODE=1*/;
/*!50003 SET @OLD_COMPLETION_TYPE=@@COMPLETION_TYPE,COMPLETION_TYPE=0*/;
DELIMITER /*!*/;
# at 4
#700101  0:00:00 server id 1  end_log_pos 0 	Rotate to mysql-bin.000001  pos: 4
# at 4
#261202 11:35:22 server id 1  end_log_pos 127 CRC32 0xbfb87566 	Start: binlog v 4, server v 9.7.4-2 created 261202 11:35:22 at startup
ROLLBACK/*!*/;
BINLOG '
CigAAAFmdbi/
'/*!*/;
# at 127
#261202 11:35:22 server id 1  end_log_pos 158 CRC32 0x29313f13 	Previous-GTIDs
# [empty]
# at 6817
#261202 11:35:23 server id 1  end_log_pos 6896 CRC32 0x0278e080 	GTID	last_committed=24	sequence_number=25	rbr_only=yes	original_committed_timestamp=1796211323920197	immediate_commit_timestamp=1796211323920197	transaction_length=281
/*!50718 SET TRANSACTION ISOLATION LEVEL READ COMMITTED*//*!*/;
# original_commit_timestamp=1796211323920197 (2026-12-02 11:35:23.920197 UTC)
# immediate_commit_timestamp=1796211323920197 (2026-12-02 11:35:23.920197 UTC)
/*!80001 SET @@session.original_commit_timestamp=1796211323920197*//*!*/;
/*!80014 SET @@session.original_server_version=90704*//*!*/;
/*!80014 SET @@session.immediate_server_version=90704*//*!*/;
SET @@SESSION.GTID_NEXT= '74f5b664-ee44-11f1-b0e7-02fc00000001:25'/*!*/;
# at 6896
#261202 11:35:23 server id 1  end_log_pos 6967 CRC32 0xf78f0323 	Query	thread_id=19	exec_time=0	error_code=0
SET TIMESTAMP=1796211323/*!*/;
BEGIN
/*!*/;
# at 6967
#261202 11:35:23 server id 1  end_log_pos 7019 CRC32 0x55a565c3 	Table_map: \`h\`.\`w\` mapped to number 113
# has_generated_invisible_primary_key=0
# at 7019
#261202 11:35:23 server id 1  end_log_pos 7067 CRC32 0x83f62837 	Write_rows: table id 113 flags: STMT_END_F USE_SQL_FOREIGN_KEY_F

BINLOG '
'/*!*/;
### INSERT INTO \`h\`.\`w\`
### SET
###   @1=1796211266965238001
###   @2='db1'
# at 7067
#261202 11:35:23 server id 1  end_log_pos 7098 CRC32 0x94242400 	Xid = 50
COMMIT/*!*/;
# at 7098
#261202 11:35:23 server id 1  end_log_pos 7177 CRC32 0x56a7c75c 	GTID	last_committed=24	sequence_number=26	rbr_only=yes	original_committed_timestamp=1796211323932299	immediate_commit_timestamp=1796211323932299	transaction_length=284
/*!50718 SET TRANSACTION ISOLATION LEVEL READ COMMITTED*//*!*/;
# original_commit_timestamp=1796211323932299 (2026-12-02 11:35:23.932299 UTC)
# immediate_commit_timestamp=1796211323932299 (2026-12-02 11:35:23.932299 UTC)
/*!80001 SET @@session.original_commit_timestamp=1796211323932299*//*!*/;
/*!80014 SET @@session.original_server_version=90704*//*!*/;
/*!80014 SET @@session.immediate_server_version=90704*//*!*/;
SET @@SESSION.GTID_NEXT= '74f5b664-ee44-11f1-b0e7-02fc00000001:26'/*!*/;
# at 7177
#261202 11:35:23 server id 1  end_log_pos 7248 CRC32 0x80f6792f 	Query	thread_id=21	exec_time=0	error_code=0
SET TIMESTAMP=1796211323/*!*/;
BEGIN
/*!*/;
# at 7248
#261202 11:35:23 server id 1  end_log_pos 7300 CRC32 0x0a0ba99f 	Table_map: \`h\`.\`w\` mapped to number 113
# has_generated_invisible_primary_key=0
# at 7300
#261202 11:35:23 server id 1  end_log_pos 7351 CRC32 0x81b2004d 	Write_rows: table id 113 flags: STMT_END_F USE_SQL_FOREIGN_KEY_F

BINLOG '
'/*!*/;
### INSERT INTO \`h\`.\`w\`
### SET
###   @1=2
###   @2='tagged'
# at 7351
#261202 11:35:23 server id 1  end_log_pos 7382 CRC32 0xcb3532a6 	Xid = 54
COMMIT/*!*/;
SET @@SESSION.GTID_NEXT= 'AUTOMATIC' /* added by mysqlbinlog */ /*!*/;
DELIMITER ;
# End of log file
/*!50003 SET COMPLETION_TYPE=@OLD_COMPLETION_TYPE*/;
/*!50530 SET @@SESSION.PSEUDO_SLAVE_MODE=0*/;

`;

describe('splitBinlogText on MySQL mysqlbinlog output', () => {
  it('names each transaction by its GTID_NEXT and decodes its row images', () => {
    const { header, segments, trailer } = splitBinlogText(mysqlVerbose);
    expect(header).toContain('Start: binlog v 4, server v 9.7.4');
    expect(header).not.toContain('GTID_NEXT');
    const ids = ['74f5b664-ee44-11f1-b0e7-02fc00000001:25', '74f5b664-ee44-11f1-b0e7-02fc00000001:26'];
    expect([...segments.keys()]).toEqual(ids);
    const first = segments.get(ids[0]!)!;
    expect(first.text.startsWith('# at 6817')).toBe(true);
    expect(first.text).toContain("SET @@SESSION.GTID_NEXT= '74f5b664-ee44-11f1-b0e7-02fc00000001:25'");
    expect(first.text).toContain('COMMIT/*!*/;');
    expect(first.text).not.toContain(':26');
    expect(first.rows).toEqual([
      { op: 'INSERT', table: 'h.w', values: ['@1=1796211266965238001', "@2='db1'"] },
    ]);
    expect(segments.get(ids[1]!)!.rows).toEqual([
      { op: 'INSERT', table: 'h.w', values: ['@1=2', "@2='tagged'"] },
    ]);
    // The replayable file ends as mysqlbinlog's own does: GTID_NEXT back to AUTOMATIC, delimiter reset.
    expect(trailer).toContain("SET @@SESSION.GTID_NEXT= 'AUTOMATIC'");
    expect(trailer).toContain('DELIMITER ;');
    expect(segments.get(ids[1]!)!.text).not.toContain('AUTOMATIC');
  });

  it('takes a tagged GTID (MySQL 8.3+) from GTID_NEXT as it is', () => {
    const tagged = mysqlVerbose
      .replaceAll(':26', ':audit:26')
      .replace(/\tGTID\t(?=last_committed=24\tsequence_number=26)/, '\tGTID_TAGGED\t');
    const { segments } = splitBinlogText(tagged);
    expect([...segments.keys()]).toContain('74f5b664-ee44-11f1-b0e7-02fc00000001:audit:26');
  });
});
