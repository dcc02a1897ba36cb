import { describe, expect, it } from 'vitest';
import { columnRead, versioningColumns } from '../../../functions/dump/dump.js';
import { isDataObjectStatement } from '../../../functions/dump/layout.js';
import { splitInsert, valueSizes } from '../../../functions/dump/packet-split.js';

const prefix = 'INSERT INTO `s`.`t` (`id`,`b`) VALUES\n';
const stmt = (rows: string[]) => Buffer.from(prefix + rows.join(',\n'), 'latin1');

describe('splitInsert', () => {
  it('leaves a statement that fits alone', () => {
    const s = stmt(['(1,0x00)', '(2,0x01)']);
    expect(splitInsert(s, s.length)).toEqual([s]);
  });

  it('cuts a multi-row INSERT into whole-row INSERTs within the limit', () => {
    const rows = ["(1,'aaaa\\nbbbb')", "(2,'cc,dd)')", '(3,NULL)', "(4,_binary'x\\'y')"];
    const parts = splitInsert(stmt(rows), prefix.length + 20);
    expect(parts.map((p) => p.toString('latin1'))).toEqual(rows.map((r) => prefix + r));
    const two = splitInsert(stmt(rows), prefix.length + rows[0]!.length + 2 + rows[1]!.length);
    expect(two.map((p) => p.toString('latin1'))).toEqual([
      stmt(rows.slice(0, 2)).toString('latin1'),
      stmt(rows.slice(2)).toString('latin1'),
    ]);
  });

  it('refuses a row that cannot fit, naming its biggest column and the setting', () => {
    const big = `(1,'${'x'.repeat(5000)}')`;
    expect(() => splitInsert(stmt(['(0,NULL)', big]), 2000)).toThrow(
      /`s`\.`t`: .*column `b` holds a 5002-byte value.*raise max_allowed_packet on the target to at least 6144/,
    );
  });

  it('measures each value of a row, quotes and escapes included', () => {
    expect(valueSizes(Buffer.from("(12,'a,b\\'c',NULL,0xff)", 'latin1'))).toEqual([2, 8, 4, 4]);
  });
});

describe('how columns are read', () => {
  it('reads FLOAT through DOUBLE and an ENUM or SET with an empty member by index', () => {
    expect(columnRead('f', 'float', 'float', null).expr).toBe('CAST(`f` AS DOUBLE)');
    expect(columnRead('e', 'enum', "enum('','a')", 'utf8mb4')).toMatchObject({
      kind: 'number',
      expr: '`e` + 0',
    });
    expect(columnRead('s', 'set', "set('a','','b')", 'utf8mb4').expr).toBe('`s` + 0');
    expect(columnRead('e', 'enum', "enum('a','b')", 'utf8mb4')).toMatchObject({
      kind: 'string',
      expr: '`e`',
    });
  });

  it('finds the period columns of a system-versioned table', () => {
    expect(
      versioningColumns('CREATE TABLE `t` (\n  `id` int(11) NOT NULL\n) WITH SYSTEM VERSIONING'),
    ).toEqual({
      start: 'row_start',
      end: 'row_end',
      trxId: false,
    });
    const explicit =
      'CREATE TABLE `t` (\n  `id` int(11),\n  `s` timestamp(6) GENERATED ALWAYS AS ROW START INVISIBLE,\n  `e` timestamp(6) GENERATED ALWAYS AS ROW END INVISIBLE,\n  PERIOD FOR SYSTEM_TIME (`s`, `e`)\n) WITH SYSTEM VERSIONING';
    expect(versioningColumns(explicit)).toEqual({ start: 's', end: 'e', trxId: false });
    expect(versioningColumns(explicit.replace(/timestamp\(6\)/g, 'bigint(20) unsigned')).trxId).toBe(true);
  });
});

describe('isDataObjectStatement', () => {
  const prefix = Buffer.from('INSERT INTO `s`.`t` (', 'utf8');
  const ok = (sql: string) => isDataObjectStatement(Buffer.from(sql, 'utf8'), prefix);

  it("accepts the header's session settings and INSERTs into the object's own table", () => {
    expect(ok('-- mysql-failover dump: data of `s`.`t`, chunk 0\n/*!40101 SET NAMES utf8mb4*/')).toBe(true);
    expect(ok("/*!40101 SET SQL_MODE='NO_AUTO_VALUE_ON_ZERO'*/")).toBe(true);
    expect(ok('/*M!101100 SET @@session.system_versioning_insert_history=1*/')).toBe(true);
    expect(ok('INSERT INTO `s`.`t` (`a`) VALUES\n(1)')).toBe(true);
  });

  it('refuses DDL, other tables and anything smuggled after a setting', () => {
    expect(ok('DROP TABLE `s`.`t`')).toBe(false);
    expect(ok('INSERT INTO `s`.`other` (`a`) VALUES\n(1)')).toBe(false);
    expect(ok('-- comment\nCREATE TABLE x (a INT)')).toBe(false);
    expect(ok('/*!40101 SET NAMES utf8mb4*/;\nDROP TABLE t')).toBe(false);
    expect(ok('COMMIT')).toBe(false);
  });
});
