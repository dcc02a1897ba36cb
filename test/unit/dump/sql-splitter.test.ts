import { describe, expect, it } from 'vitest';
import { LineStatementSplitter, SqlSplitter, splitSql } from '../../../functions/dump/sql-splitter.js';

function splitInChunks(text: string, size: number): string[] {
  const s = new SqlSplitter();
  const buf = Buffer.from(text, 'utf8');
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(...s.push(buf.subarray(i, i + size)));
  out.push(...s.end());
  return out.map((b) => b.toString('utf8'));
}

const MYSQLDUMP = `-- MariaDB dump 10.19  Distrib 10.11.18-MariaDB
/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*M!999999\\- enable the sandbox mode */ ;
# a hash comment; with a semicolon
DROP TABLE IF EXISTS \`t;1\`;
CREATE TABLE \`t;1\` (
  \`a\` varchar(10) DEFAULT 'x;y' COMMENT 'it''s',
  \`b\` text /* inline; comment */
);
INSERT INTO \`t;1\` VALUES ('a\\';b',"c\\"d;"),('--not a comment','/* nor this */');
DELIMITER ;;
/*!50003 CREATE*/ /*!50003 TRIGGER tr BEFORE INSERT ON \`t;1\` FOR EACH ROW BEGIN
  SET NEW.a = 'x;';
  SET NEW.b = NULL;
END */;;
DELIMITER ;
DELIMITER $$
CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END$$
DELIMITER ;
SELECT 'héllo 😀';
SELECT 1 -- trailing comment
`;

describe('SqlSplitter', () => {
  it('splits a mysqldump file with quotes, comments, executable comments and DELIMITER blocks', () => {
    const stmts = splitSql(MYSQLDUMP);
    expect(stmts).toEqual([
      '/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */',
      '/*M!999999\\- enable the sandbox mode */',
      'DROP TABLE IF EXISTS `t;1`',
      "CREATE TABLE `t;1` (\n  `a` varchar(10) DEFAULT 'x;y' COMMENT 'it''s',\n  `b` text /* inline; comment */\n)",
      "INSERT INTO `t;1` VALUES ('a\\';b',\"c\\\"d;\"),('--not a comment','/* nor this */')",
      "/*!50003 CREATE*/ /*!50003 TRIGGER tr BEFORE INSERT ON `t;1` FOR EACH ROW BEGIN\n  SET NEW.a = 'x;';\n  SET NEW.b = NULL;\nEND */",
      'CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END',
      "SELECT 'héllo 😀'",
      'SELECT 1 -- trailing comment',
    ]);
  });

  it('gives the same statements whatever the chunk boundaries are', () => {
    const whole = splitSql(MYSQLDUMP);
    for (const size of [1, 2, 3, 5, 7, 13, 64]) expect(splitInChunks(MYSQLDUMP, size)).toEqual(whole);
  });

  it('drops statements made only of comments and whitespace', () => {
    expect(splitSql('-- one\n/* two */\n  ;\n# three\n;SELECT 1;')).toEqual(['SELECT 1']);
  });

  it('keeps binary bytes inside strings untouched', () => {
    const bin = Buffer.concat([
      Buffer.from("INSERT INTO t VALUES ('"),
      Buffer.from([0xff, 0x00, 0x80, 0x3b]),
      Buffer.from("');SELECT 2;"),
    ]);
    const s = new SqlSplitter();
    const out = [...s.push(bin), ...s.end()];
    expect(out).toHaveLength(2);
    expect(out[0]?.subarray(23, 27)).toEqual(Buffer.from([0xff, 0x00, 0x80, 0x3b]));
  });

  it('reports input that ends inside a quoted string', () => {
    const s = new SqlSplitter();
    s.push(Buffer.from("INSERT INTO t VALUES ('unterminated"));
    expect(s.inQuoteOrComment).toBe(true);
  });
});

describe('LineStatementSplitter', () => {
  const OBJECT =
    "-- header\n/*!40101 SET NAMES binary*/;\nINSERT INTO t VALUES\n(1,'a;\\nb'),\n(2,'c');\nINSERT INTO t VALUES\n(3,'');\n-- rows: 3\n";

  it('splits our data objects at ";\\n" whatever the chunk boundaries are', () => {
    for (const size of [1, 2, 3, 7, 1000]) {
      const s = new LineStatementSplitter();
      const buf = Buffer.from(OBJECT, 'latin1');
      const out: string[] = [];
      for (let i = 0; i < buf.length; i += size)
        out.push(...s.push(buf.subarray(i, i + size)).map((b) => b.toString('latin1')));
      expect(s.end()).toEqual([]);
      expect(out).toEqual([
        '-- header\n/*!40101 SET NAMES binary*/',
        "INSERT INTO t VALUES\n(1,'a;\\nb'),\n(2,'c')",
        "INSERT INTO t VALUES\n(3,'')",
      ]);
    }
  });

  it('assembles the statements that span chunks in one reused buffer', () => {
    const s = new LineStatementSplitter();
    const stmt = (i: number) => `INSERT INTO t VALUES\n(${i},'${'x'.repeat(5000)}');\n`;
    const buf = Buffer.from(Array.from({ length: 20 }, (_, i) => stmt(i)).join(''), 'latin1');
    const out: string[] = [];
    const assembled = new Set<ArrayBufferLike>();
    for (let i = 0; i < buf.length; i += 3000)
      for (const b of s.push(buf.subarray(i, i + 3000))) {
        out.push(b.toString('latin1'));
        assembled.add(b.buffer);
      }
    expect(out).toEqual(Array.from({ length: 20 }, (_, i) => stmt(i).slice(0, -2)));
    // The input's own buffer (statements within one chunk) and the one assembly buffer.
    expect(assembled.size).toBeLessThanOrEqual(2);
  });

  it('hands back an unterminated statement at the end (a truncated object)', () => {
    const s = new LineStatementSplitter();
    s.push(Buffer.from('INSERT INTO t VALUES (1);\nINSERT INTO t VALUES (2', 'latin1'));
    expect(s.end().map((b) => b.toString())).toEqual(['INSERT INTO t VALUES (2']);
  });
});
