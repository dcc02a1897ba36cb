/**
 * Pure SQL encoding of row values for the dump's data objects. Values arrive as the raw bytes the
 * server sent over the text protocol on a `SET NAMES binary` connection (mysql2 with typeCast false),
 * so nothing is decoded and re-encoded: the bytes stored in a column are the bytes written into the
 * INSERT statement, escaped or hex-encoded. That keeps every character set, 4-byte UTF-8, binary data,
 * DECIMAL, zero dates and fractional seconds byte for byte, and it is the fastest way to do it.
 */

/** How a column's value is written in an INSERT. */
export type ValueKind =
  /** Numbers as the server printed them (INT, DECIMAL, FLOAT, DOUBLE): no quotes. */
  | 'number'
  /** Quoted, escaped bytes (CHAR, TEXT, ENUM, SET, JSON, dates and times, YEAR). */
  | 'string'
  /** 0x… hex (BINARY, VARBINARY, BLOB, spatial types in the server's internal format). */
  | 'binary'
  /** b'…' bit literal. */
  | 'bit';

/** Maps information_schema.COLUMNS.DATA_TYPE (and COLUMN_TYPE) to how the value is written. */
export function valueKindOf(dataType: string, columnType = ''): ValueKind {
  const t = dataType.toLowerCase();
  switch (t) {
    case 'tinyint':
    case 'smallint':
    case 'mediumint':
    case 'int':
    case 'integer':
    case 'bigint':
    case 'decimal':
    case 'numeric':
    case 'float':
    case 'double':
    case 'real':
      return 'number';
    case 'bit':
      return 'bit';
    case 'binary':
    case 'varbinary':
    case 'tinyblob':
    case 'blob':
    case 'mediumblob':
    case 'longblob':
    case 'geometry':
    case 'point':
    case 'linestring':
    case 'polygon':
    case 'multipoint':
    case 'multilinestring':
    case 'multipolygon':
    case 'geometrycollection':
    case 'geomcollection':
      return 'binary';
    default:
      // char/varchar with a binary collation show up as binary/varbinary already; anything unknown is
      // safest quoted and escaped, which every type accepts.
      void columnType;
      return 'string';
  }
}

/** Bytes that must be escaped inside a quoted string literal (mysql_real_escape_string's set). */
const ESCAPE = new Uint8Array(256);
const ESCAPE_TO = new Uint8Array(256);
for (const [from, to] of [
  [0x00, 0x30], // \0
  [0x0a, 0x6e], // \n
  [0x0d, 0x72], // \r
  [0x5c, 0x5c], // \\
  [0x27, 0x27], // \'
  [0x22, 0x22], // \"
  [0x1a, 0x5a], // \Z
] as const) {
  ESCAPE[from] = 1;
  ESCAPE_TO[from] = to;
}

const HEX = Buffer.from('0123456789abcdef', 'latin1');

/**
 * Binary values from this size on are written `_binary'…'` (escaped bytes). The introducer keeps the
 * literal binary under any connection charset; only backslash, quotes, NUL, CR, LF and ^Z are escaped
 * (no raw newline, so our line-based statement split still holds). Every charset a data object runs
 * under (UTF-8 or single-byte) never hides a quote or backslash inside a multi-byte character.
 */
export const LARGE_BINARY = 64 * 1024;

/**
 * Builds INSERT statements into one growing buffer. Kept allocation-free per value: a row is a handful
 * of byte copies, and the finished statement is handed out as one Buffer.
 */
export class StatementBuilder {
  private buf: Buffer;
  private len = 0;
  /** The buffer behind each statement handed out (weakly: a statement never handed back is collected). */
  private readonly whole = new WeakMap<Buffer, Buffer>();
  private readonly spare: Buffer[] = [];

  constructor(initialCapacity = 1 << 20) {
    this.buf = Buffer.allocUnsafe(initialCapacity);
  }

  get length(): number {
    return this.len;
  }

  private ensure(extra: number): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  /** ASCII/Latin-1 text (SQL keywords, numbers, hex). */
  ascii(s: string): void {
    this.ensure(s.length);
    this.len += this.buf.write(s, this.len, 'latin1');
  }

  /** UTF-8 text (identifiers). */
  utf8(s: string): void {
    this.ensure(Buffer.byteLength(s));
    this.len += this.buf.write(s, this.len, 'utf8');
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }

  raw(bytes: Buffer): void {
    this.ensure(bytes.length);
    this.len += bytes.copy(this.buf, this.len);
  }

  /** '…' with the server's escapes; worst case doubles the length. */
  quoted(bytes: Buffer): void {
    const n = bytes.length;
    this.ensure(n * 2 + 2);
    const out = this.buf;
    let o = this.len;
    out[o++] = 0x27;
    let start = 0;
    for (let i = 0; i < n; i++) {
      const c = bytes[i] as number;
      if (ESCAPE[c] === 1) {
        if (i > start) o += bytes.copy(out, o, start, i);
        out[o++] = 0x5c;
        out[o++] = ESCAPE_TO[c] as number;
        start = i + 1;
      }
    }
    if (n > start) o += bytes.copy(out, o, start, n);
    out[o++] = 0x27;
    this.len = o;
  }

  /** 0x… for non-empty bytes, '' for empty ones (0x alone is not valid SQL). */
  hex(bytes: Buffer): void {
    if (bytes.length === 0) {
      this.ascii("''");
      return;
    }
    this.ensure(bytes.length * 2 + 2);
    const out = this.buf;
    let o = this.len;
    out[o++] = 0x30;
    out[o++] = 0x78;
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i] as number;
      out[o++] = HEX[c >> 4] as number;
      out[o++] = HEX[c & 15] as number;
    }
    this.len = o;
  }

  /** b'0101…' for BIT(n): the server sends the value as big-endian bytes. */
  bits(bytes: Buffer): void {
    this.ensure(bytes.length * 8 + 3);
    const out = this.buf;
    let o = this.len;
    out[o++] = 0x62;
    out[o++] = 0x27;
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i] as number;
      for (let b = 7; b >= 0; b--) out[o++] = (c >> b) & 1 ? 0x31 : 0x30;
    }
    out[o++] = 0x27;
    this.len = o;
  }

  value(kind: ValueKind, v: Buffer | null): void {
    if (v === null) {
      this.ascii('NULL');
      return;
    }
    switch (kind) {
      case 'number':
        this.raw(v);
        return;
      case 'string':
        this.quoted(v);
        return;
      case 'binary':
        // Large values as escaped bytes (about 1x their size) rather than hex (2x): a 10 MiB BLOB
        // stays a ~10 MiB statement, which a 16 MiB max_allowed_packet still takes.
        if (v.length >= LARGE_BINARY) {
          this.ascii('_binary');
          this.quoted(v);
        } else this.hex(v);
        return;
      case 'bit':
        this.bits(v);
        return;
    }
  }

  /** Hands out the bytes built so far and starts over with a fresh buffer of the same capacity. */
  take(): Buffer {
    const done = this.buf.subarray(0, this.len);
    this.whole.set(done, this.buf);
    this.buf = this.spare.pop() ?? Buffer.allocUnsafe(Math.max(1 << 16, this.buf.length));
    this.len = 0;
    return done;
  }

  /**
   * A statement from take() that its consumer is done with (gzip consumed it): its buffer builds a
   * later statement instead of a new one per statement. A statement never handed back costs nothing.
   */
  recycle(statement: Buffer): void {
    const whole = this.whole.get(statement);
    this.whole.delete(statement);
    if (whole && this.spare.length < 2) this.spare.push(whole);
  }

  /** The bytes built so far, without resetting (tests). */
  peek(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

/** `name` with backticks doubled: safe for any identifier. */
export function quoteIdent(name: string): string {
  return '`' + name.replace(/`/g, '``') + '`';
}

/** A string literal for SQL text we generate ourselves (UTF-8 strings, not row data). */
export function quoteString(s: string): string {
  return (
    "'" +
    s.replace(/[\0\n\r\\'"\x1a]/g, (c) => {
      switch (c) {
        case '\0':
          return '\\0';
        case '\n':
          return '\\n';
        case '\r':
          return '\\r';
        case '\x1a':
          return '\\Z';
        default:
          return '\\' + c;
      }
    }) +
    "'"
  );
}

export interface InsertColumn {
  name: string;
  kind: ValueKind;
  /** A character set introducer written before the literal (e.g. `_latin1`), when the column's
   * charset is not the object's connection charset. */
  introducer?: string;
}

/** Character sets in which every byte is one character: quoted bytes are safe under any lexer. */
const SINGLE_BYTE = new Set([
  'latin1',
  'latin2',
  'latin5',
  'latin7',
  'cp1250',
  'cp1251',
  'cp1256',
  'cp1257',
  'cp850',
  'cp852',
  'cp866',
  'koi8r',
  'koi8u',
  'greek',
  'hebrew',
  'armscii8',
  'geostd8',
  'keybcs2',
  'macce',
  'macroman',
  'swe7',
  'dec8',
  'hp8',
  'tis620',
  'ascii',
]);
const UTF8 = new Set(['utf8mb4', 'utf8mb3', 'utf8']);

/**
 * The connection charset of a data object, and how each column's literal is written under it. Bytes
 * arrive exactly as stored (character_set_results=binary), so each literal must be read back in its
 * column's own charset: a table whose text columns share one charset (and whose names are ASCII) uses
 * that charset for the object; otherwise utf8mb4 with an introducer (`_latin1'…'`) per column, or hex
 * with an introducer for multi-byte charsets other than UTF-8 (`_sjis 0x…`), whose bytes may look
 * like quotes or backslashes.
 */
export function planCharsets(
  names: string[],
  columns: { name: string; kind: ValueKind; charset: string | null }[],
): { charset: string; columns: InsertColumn[] } {
  const textSets = new Set(
    columns.filter((c) => c.kind === 'string' && c.charset).map((c) => c.charset as string),
  );
  const ascii = names.every((n) => /^[\x20-\x7e]*$/.test(n));
  let charset = 'utf8mb4';
  if (textSets.size === 1 && ascii) {
    const only = [...textSets][0] as string;
    if (UTF8.has(only) || SINGLE_BYTE.has(only)) charset = only === 'utf8' ? 'utf8mb3' : only;
  }
  return {
    charset,
    columns: columns.map((c) => {
      if (c.kind !== 'string' || !c.charset || c.charset === charset) return { name: c.name, kind: c.kind };
      if (UTF8.has(c.charset) && UTF8.has(charset)) return { name: c.name, kind: c.kind };
      if (c.charset === 'ascii' && UTF8.has(charset)) return { name: c.name, kind: c.kind };
      if (SINGLE_BYTE.has(c.charset)) return { name: c.name, kind: 'string', introducer: `_${c.charset}` };
      return { name: c.name, kind: 'binary', introducer: `_${c.charset}` };
    }),
  };
}

/**
 * Streams rows into multi-row INSERT statements of bounded size. Each finished statement (ending in
 * ";\n") goes to `emit`; every statement sits on its own line and no value contains a raw newline
 * (they are escaped), so a restore can split our objects quickly and a person can read them.
 */
export class InsertEncoder {
  private readonly builder: StatementBuilder;
  private readonly prefix: Buffer;
  private rowsInStatement = 0;
  rows = 0;
  bytes = 0;

  constructor(
    schema: string,
    table: string,
    private readonly columns: InsertColumn[],
    private readonly emit: (statement: Buffer) => boolean | undefined,
    private readonly maxStatementBytes = 1 << 20,
  ) {
    this.builder = new StatementBuilder(maxStatementBytes + (maxStatementBytes >> 2));
    const cols = columns.map((c) => quoteIdent(c.name)).join(',');
    this.prefix = Buffer.from(
      `INSERT INTO ${quoteIdent(schema)}.${quoteIdent(table)} (${cols}) VALUES\n`,
      'utf8',
    );
  }

  /** Adds one row; returns false when the consumer asked to slow down (emit returned false). */
  row(values: (Buffer | null)[]): boolean {
    const b = this.builder;
    if (this.rowsInStatement === 0) b.raw(this.prefix);
    else {
      b.byte(0x2c);
      b.byte(0x0a);
    }
    b.byte(0x28);
    const cols = this.columns;
    for (let i = 0; i < cols.length; i++) {
      if (i > 0) b.byte(0x2c);
      const c = cols[i] as InsertColumn;
      const v = values[i] ?? null;
      if (c.introducer !== undefined && v !== null) {
        b.ascii(c.introducer);
        b.byte(0x20);
        // hex after a charset introducer (`_sjis 0x…`): escaped bytes could hide a quote in that charset
        if (c.kind === 'binary') b.hex(v);
        else b.value(c.kind, v);
      } else b.value(c.kind, v);
    }
    b.byte(0x29);
    this.rowsInStatement++;
    this.rows++;
    if (b.length >= this.maxStatementBytes) return this.flush();
    return true;
  }

  /** A statement emitted earlier that its consumer no longer needs (StatementBuilder.recycle). */
  recycle(statement: Buffer): void {
    this.builder.recycle(statement);
  }

  /** Ends the current statement, if any. */
  flush(): boolean {
    if (this.rowsInStatement === 0) return true;
    this.builder.byte(0x3b);
    this.builder.byte(0x0a);
    this.rowsInStatement = 0;
    const stmt = this.builder.take();
    this.bytes += stmt.length;
    return this.emit(stmt) !== false;
  }
}
