import { describe, expect, it } from 'vitest';
import {
  InsertEncoder,
  quoteIdent,
  quoteString,
  StatementBuilder,
  valueKindOf,
} from '../../../functions/dump/sql-encode.js';

function build(fn: (b: StatementBuilder) => void): string {
  const b = new StatementBuilder(4);
  fn(b);
  return b.peek().toString('latin1');
}

describe('SQL value encoding', () => {
  it('escapes the bytes the server treats specially and nothing else', () => {
    const raw = Buffer.from([0x61, 0x00, 0x0a, 0x0d, 0x5c, 0x27, 0x22, 0x1a, 0x62]);
    expect(build((b) => b.quoted(raw))).toBe("'a\\0\\n\\r\\\\\\'\\\"\\Zb'");
  });

  it('writes NULL for null and an empty literal for the empty string', () => {
    expect(build((b) => b.value('string', null))).toBe('NULL');
    expect(build((b) => b.value('string', Buffer.alloc(0)))).toBe("''");
    expect(build((b) => b.value('binary', Buffer.alloc(0)))).toBe("''");
  });

  it('writes binary as hex, BIT as a bit literal and numbers as sent', () => {
    expect(build((b) => b.value('binary', Buffer.from([0x00, 0xff, 0x10])))).toBe('0x00ff10');
    expect(build((b) => b.value('bit', Buffer.from([0x01, 0x82])))).toBe("b'0000000110000010'");
    expect(build((b) => b.value('number', Buffer.from('-12.500')))).toBe('-12.500');
  });

  it('keeps UTF-8 4-byte characters as the same bytes', () => {
    const s = Buffer.from('a😀é', 'utf8');
    const out = new StatementBuilder(1);
    out.quoted(s);
    expect(out.peek().subarray(1, -1)).toEqual(s);
  });

  it('maps column types to value kinds', () => {
    expect(valueKindOf('decimal')).toBe('number');
    expect(valueKindOf('bigint')).toBe('number');
    expect(valueKindOf('longblob')).toBe('binary');
    expect(valueKindOf('point')).toBe('binary');
    expect(valueKindOf('bit')).toBe('bit');
    expect(valueKindOf('datetime')).toBe('string');
    expect(valueKindOf('json')).toBe('string');
    expect(valueKindOf('enum')).toBe('string');
  });

  it('quotes identifiers and generated strings', () => {
    expect(quoteIdent('a`b')).toBe('`a``b`');
    expect(quoteString("it's\n")).toBe("'it\\'s\\n'");
  });
});

describe('InsertEncoder', () => {
  it('bounds statement size and puts each statement on its own line', () => {
    const out: string[] = [];
    const enc = new InsertEncoder(
      'db',
      't',
      [
        { name: 'id', kind: 'number' },
        { name: 'v', kind: 'string' },
      ],
      (s) => {
        out.push(s.toString('latin1'));
        return true;
      },
      60,
    );
    for (let i = 0; i < 5; i++) enc.row([Buffer.from(String(i)), Buffer.from(`row\n${i}`)]);
    enc.flush();
    expect(enc.rows).toBe(5);
    expect(out.length).toBeGreaterThan(1);
    expect(out.join('')).toBe(out.map((s) => s).join(''));
    expect(out[0]).toBe("INSERT INTO `db`.`t` (`id`,`v`) VALUES\n(0,'row\\n0'),\n(1,'row\\n1');\n");
    for (const s of out) {
      expect(s.endsWith(');\n')).toBe(true);
      expect(
        s
          .slice(0, -1)
          .split('\n')
          .every((l) => l.startsWith('INSERT') || l.startsWith('(')),
      ).toBe(true);
    }
    expect(enc.bytes).toBe(out.reduce((a, s) => a + s.length, 0));
  });

  it('builds the next statements in the buffers its consumer handed back', () => {
    const out: string[] = [];
    const buffers = new Set<ArrayBufferLike>();
    const enc = new InsertEncoder(
      'db',
      't',
      [{ name: 'id', kind: 'number' }],
      (s) => {
        out.push(s.toString('latin1'));
        buffers.add(s.buffer);
        enc.recycle(s);
        return true;
      },
      40,
    );
    for (let i = 0; i < 40; i++) enc.row([Buffer.from(String(i))]);
    enc.flush();
    expect(out.length).toBeGreaterThan(5);
    expect(out.join('').match(/\(\d+\)/g)).toHaveLength(40);
    expect(buffers.size).toBeLessThanOrEqual(2);
  });

  it('tells the caller to slow down when the consumer is full', () => {
    const enc = new InsertEncoder('d', 't', [{ name: 'a', kind: 'number' }], () => false, 10);
    expect(enc.row([Buffer.from('1')])).toBe(false);
  });
});
