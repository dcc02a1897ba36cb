import { describe, expect, it } from 'vitest';
import { gtidPurgedOf } from '../../../functions/dump/load-sql.js';

describe('SET @@GLOBAL.GTID_PURGED in an operator dump file', () => {
  it('recognises the 8.0+ append form and the 5.7 form, and nothing else', () => {
    expect(
      gtidPurgedOf(
        "SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,\nab:1-2';",
      ),
    ).toBe('3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,ab:1-2');
    expect(
      gtidPurgedOf(Buffer.from("SET @@GLOBAL.GTID_PURGED='3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5';")),
    ).toBe('3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5');
    expect(gtidPurgedOf('SET @@SESSION.SQL_LOG_BIN= 0;')).toBeNull();
    expect(gtidPurgedOf("INSERT INTO t VALUES ('SET @@GLOBAL.GTID_PURGED=1')")).toBeNull();
  });
});
