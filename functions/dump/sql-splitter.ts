/**
 * A streaming SQL statement splitter for dump files, the way the `mariadb`/`mysql` client splits its
 * input: quotes ('…', "…", `…` with doubled quotes and backslash escapes), comments (-- , #, /* … *\/,
 * while /*! … *\/ and /*M! … *\/ executable comments stay part of the statement), and the client-side
 * `DELIMITER` command used around triggers and routines. Works on bytes (character-set agnostic: every
 * delimiter and quote is ASCII, and UTF-8 or binary bytes ≥ 0x80 never look like one), so a statement
 * comes out exactly as it was written.
 */

const NORMAL = 0;
const SQUOTE = 1;
const DQUOTE = 2;
const BACKTICK = 3;
const LINE_COMMENT = 4;
const BLOCK_COMMENT = 5;

const WS = new Uint8Array(256);
for (const c of [0x20, 0x09, 0x0a, 0x0d, 0x0b, 0x0c]) WS[c] = 1;

export class SqlSplitter {
  private buf: Buffer = Buffer.alloc(0);
  private parts: Buffer[] = [];
  private stmtStart = 0;
  private state = NORMAL;
  private hasContent = false;
  private delimiter: Buffer = Buffer.from(';');
  /** Statements found so far (for errors that point at a place in the file). */
  count = 0;

  get currentDelimiter(): string {
    return this.delimiter.toString('latin1');
  }

  /** Feeds the next chunk; returns the statements it completed (without their delimiter). */
  push(chunk: Buffer): Buffer[] {
    // Only the small unscanned tail of the previous chunk is copied (a token that needed lookahead).
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    return this.scan(false);
  }

  /** Input is complete: returns the last statement when it lacks a trailing delimiter. */
  end(): Buffer[] {
    const out = this.scan(true);
    if (this.hasContent) {
      this.parts.push(this.buf.subarray(this.stmtStart));
      out.push(this.finish());
    }
    this.buf = Buffer.alloc(0);
    this.parts = [];
    this.stmtStart = 0;
    return out;
  }

  /** True when the input so far ended in the middle of a quoted string or comment. */
  get inQuoteOrComment(): boolean {
    return this.state !== NORMAL && this.state !== LINE_COMMENT;
  }

  private finish(): Buffer {
    const whole = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts);
    this.parts = [];
    this.hasContent = false;
    this.count++;
    let s = 0;
    while (s < whole.length && WS[whole[s] as number] === 1) s++;
    let e = whole.length;
    while (e > s && WS[whole[e - 1] as number] === 1) e--;
    return whole.subarray(s, e);
  }

  private scan(final: boolean): Buffer[] {
    const out: Buffer[] = [];
    const buf = this.buf;
    const n = buf.length;
    let i = this.scanFrom;
    let state = this.state;
    const delim = this.delimiter;
    const d0 = delim[0] as number;
    let stop = n; // where scanning stopped for lack of lookahead
    outer: while (i < n) {
      switch (state) {
        case NORMAL: {
          const c = buf[i] as number;
          if (WS[c] === 1) {
            i++;
            continue;
          }
          if (c === d0) {
            if (i + delim.length > n) {
              if (!final) {
                stop = i;
                break outer;
              }
            } else if (delim.length === 1 || buf.compare(delim, 0, delim.length, i, i + delim.length) === 0) {
              if (this.hasContent) {
                this.parts.push(buf.subarray(this.stmtStart, i));
                out.push(this.finish());
              } else this.parts = [];
              i += delim.length;
              this.stmtStart = i;
              continue;
            }
          }
          if (!this.hasContent && c !== 0x23 && c !== 0x2d && c !== 0x2f && c !== 0x44 && c !== 0x64) {
            // A statement starts at its first byte of SQL: leading comments are dropped.
            this.parts = [];
            this.stmtStart = i;
          }
          if (c === 0x27) {
            state = SQUOTE;
            this.hasContent = true;
            i++;
            continue;
          }
          if (c === 0x22) {
            state = DQUOTE;
            this.hasContent = true;
            i++;
            continue;
          }
          if (c === 0x60) {
            state = BACKTICK;
            this.hasContent = true;
            i++;
            continue;
          }
          if (c === 0x23) {
            state = LINE_COMMENT;
            i++;
            continue;
          }
          if (c === 0x2d) {
            if (i + 2 >= n && !final) {
              stop = i;
              break outer;
            }
            const c2 = buf[i + 2];
            if (buf[i + 1] === 0x2d && (c2 === undefined || c2 <= 0x20)) {
              state = LINE_COMMENT;
              i += 2;
              continue;
            }
          } else if (c === 0x2f) {
            if (i + 3 >= n && !final) {
              stop = i;
              break outer;
            }
            if (buf[i + 1] === 0x2a) {
              const c2 = buf[i + 2];
              if (c2 === 0x21 || (c2 === 0x4d && buf[i + 3] === 0x21)) {
                // Executable comment: its text is SQL the server runs.
                this.startContent(i);
                i += 3;
                continue;
              }
              state = BLOCK_COMMENT;
              i += 2;
              continue;
            }
          } else if ((c === 0x44 || c === 0x64) && !this.hasContent) {
            const nl = buf.indexOf(0x0a, i);
            if (nl < 0 && !final) {
              stop = i;
              break outer;
            }
            const lineEnd = nl < 0 ? n : nl;
            const line = buf.toString('latin1', i, lineEnd);
            const m = /^delimiter[ \t]+(\S+)/i.exec(line);
            if (m) {
              this.delimiter = Buffer.from(m[1] as string, 'latin1');
              this.parts = [];
              i = nl < 0 ? n : nl + 1;
              this.stmtStart = i;
              this.state = NORMAL;
              this.buf = buf;
              this.scanFrom = i;
              // The delimiter changed: scan the rest with the new one.
              return out.concat(this.scan(final));
            }
          }
          this.startContent(i);
          i++;
          continue;
        }
        case SQUOTE:
        case DQUOTE: {
          const q = state === SQUOTE ? 0x27 : 0x22;
          while (i < n) {
            const c = buf[i] as number;
            if (c === 0x5c) {
              if (i + 1 >= n && !final) {
                stop = i;
                break outer;
              }
              i += 2;
              continue;
            }
            if (c === q) {
              if (i + 1 >= n && !final) {
                stop = i;
                break outer;
              }
              if (buf[i + 1] === q) {
                i += 2;
                continue;
              }
              i++;
              state = NORMAL;
              continue outer;
            }
            i++;
          }
          continue;
        }
        case BACKTICK: {
          const j = buf.indexOf(0x60, i);
          if (j < 0) {
            i = n;
            continue;
          }
          if (j + 1 >= n && !final) {
            stop = j;
            i = j;
            break outer;
          }
          if (buf[j + 1] === 0x60) {
            i = j + 2;
            continue;
          }
          i = j + 1;
          state = NORMAL;
          continue;
        }
        case LINE_COMMENT: {
          const j = buf.indexOf(0x0a, i);
          if (j < 0) {
            i = n;
            continue;
          }
          i = j + 1;
          state = NORMAL;
          continue;
        }
        case BLOCK_COMMENT: {
          const j = buf.indexOf('*/', i, 'latin1');
          if (j < 0) {
            // Keep the last byte: it may be the '*' of a '*/' split across chunks.
            if (!final) {
              stop = Math.max(i, n - 1);
              break outer;
            }
            i = n;
            continue;
          }
          i = j + 2;
          state = NORMAL;
          continue;
        }
      }
    }
    if (i >= n) stop = n;
    this.state = state;
    // Everything before `stop` belongs to the current statement; the rest waits for more input.
    if (final) {
      this.buf = buf;
      this.scanFrom = n;
      return out;
    }
    // Before any SQL there are only comments and whitespace: nothing worth keeping.
    if (stop > this.stmtStart && this.hasContent) this.parts.push(buf.subarray(this.stmtStart, stop));
    this.buf = buf.subarray(stop);
    this.stmtStart = 0;
    this.scanFrom = 0;
    return out;
  }

  private scanFrom = 0;

  private startContent(i: number): void {
    if (this.hasContent) return;
    this.hasContent = true;
    this.parts = [];
    this.stmtStart = i;
  }
}

/** Splits a whole SQL text (tests, small objects). */
export function splitSql(text: string | Buffer): string[] {
  const s = new SqlSplitter();
  const buf = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  return [...s.push(buf), ...s.end()].map((b) => b.toString('utf8'));
}

/**
 * The fast path for our own data objects: the dump writes every statement on its own line ending in
 * ";\n" and escapes newlines inside values, so a statement boundary is simply ";\n". (A foreign dump
 * goes through SqlSplitter.) What follows the last statement must be comment lines only; anything
 * else is returned by end() so the caller can refuse a truncated object.
 */
export class LineStatementSplitter {
  private parts: Buffer[] = [];
  /** Where a statement that spans chunks is put together, reused for the next one. */
  private assembly = Buffer.alloc(0);
  count = 0;

  /** The statements this chunk completes, valid until the next push() (see take()). */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let start = 0;
    // A ';' ending the previous chunk and a '\n' starting this one.
    const last = this.parts[this.parts.length - 1];
    if (chunk[0] === 0x0a && last && last[last.length - 1] === 0x3b) {
      this.parts[this.parts.length - 1] = last.subarray(0, last.length - 1);
      out.push(this.take());
      start = 1;
    }
    for (;;) {
      const j = chunk.indexOf(STATEMENT_END, start);
      if (j < 0) break;
      this.parts.push(chunk.subarray(start, j));
      out.push(this.take());
      start = j + 2;
    }
    if (start < chunk.length) this.parts.push(chunk.subarray(start));
    return out;
  }

  /**
   * The statement made of the parts so far. One that spans chunks is copied into the assembly buffer:
   * it is valid until the next push() (the restore runs each statement before it reads on), and at
   * most one statement of a push() spans chunks (the first).
   */
  private take(): Buffer {
    const parts = this.parts;
    this.parts = [];
    this.count++;
    if (parts.length === 1) return parts[0] as Buffer;
    const length = parts.reduce((n, p) => n + p.length, 0);
    if (this.assembly.length < length)
      this.assembly = Buffer.allocUnsafe(Math.max(length, 2 * this.assembly.length));
    let at = 0;
    for (const p of parts) at += p.copy(this.assembly, at);
    return this.assembly.subarray(0, length);
  }

  /** Text after the last statement: [] when it is only comments, else the unterminated rest. */
  end(): Buffer[] {
    const rest = Buffer.concat(this.parts);
    this.parts = [];
    const leftover = rest
      .toString('latin1')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('-- '));
    return leftover.length > 0 ? [rest] : [];
  }
}

const STATEMENT_END = Buffer.from(';\n', 'latin1');
