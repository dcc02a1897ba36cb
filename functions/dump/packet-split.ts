/**
 * Keeps every statement a restore sends within the target's max_allowed_packet. Our data objects write
 * one multi-row INSERT per line group: `INSERT INTO … (cols) VALUES\n(row),\n(row)` with no raw
 * newline inside a value (they are escaped), so every newline after the prefix is a row boundary and a
 * statement can be cut into smaller INSERTs of whole rows without parsing the values. A single row
 * that cannot fit is refused, naming the column that makes it big.
 */

import { DbError } from '../errors.js';

/** Room left in a packet for the command byte and the protocol's own overhead. */
export const PACKET_OVERHEAD = 1024;

const NL = 0x0a;
const VALUES_NL = Buffer.from(' VALUES\n', 'latin1');

/**
 * The statement as INSERTs of at most `limit` bytes each (the statement itself when it fits or is
 * not one of our INSERTs). Throws a DbError naming the column when one row alone is over the limit.
 */
export function splitInsert(stmt: Buffer, limit: number): Buffer[] {
  if (stmt.length <= limit) return [stmt];
  if (stmt.subarray(0, 12).toString('latin1') !== 'INSERT INTO ') return [stmt];
  const v = stmt.indexOf(VALUES_NL);
  if (v < 0) return [stmt];
  const prefix = stmt.subarray(0, v + VALUES_NL.length);
  const rows: Buffer[] = [];
  let start = prefix.length;
  for (;;) {
    const nl = stmt.indexOf(NL, start);
    const end = nl < 0 ? stmt.length : nl;
    let row = stmt.subarray(start, end);
    if (row[row.length - 1] === 0x2c) row = row.subarray(0, row.length - 1);
    if (row.length > 0) rows.push(row);
    if (nl < 0) break;
    start = nl + 1;
  }
  const out: Buffer[] = [];
  let group: Buffer[] = [];
  let size = prefix.length;
  const close = () => {
    if (group.length === 0) return;
    const parts: Buffer[] = [prefix];
    group.forEach((r, i) => {
      if (i > 0) parts.push(Buffer.from(',\n', 'latin1'));
      parts.push(r);
    });
    out.push(Buffer.concat(parts));
    group = [];
    size = prefix.length;
  };
  for (const row of rows) {
    if (prefix.length + row.length > limit) throw oversized(prefix, row, limit);
    if (group.length > 0 && size + 2 + row.length > limit) close();
    size += (group.length > 0 ? 2 : 0) + row.length;
    group.push(row);
  }
  close();
  return out;
}

function oversized(prefix: Buffer, row: Buffer, limit: number): DbError {
  const names = [...prefix.toString('utf8').matchAll(/`((?:[^`]|``)*)`/g)].map((m) =>
    (m[1] as string).replace(/``/g, '`'),
  );
  const sizes = valueSizes(row);
  let big = 0;
  for (let i = 1; i < sizes.length; i++) if ((sizes[i] as number) > (sizes[big] as number)) big = i;
  const table = `\`${names[0] ?? ''}\`.\`${names[1] ?? ''}\``;
  const column = names[2 + big] ?? `#${big + 1}`;
  const statementBytes = prefix.length + row.length;
  const needed = Math.ceil((statementBytes + PACKET_OVERHEAD) / 1024) * 1024;
  return new DbError(
    `${table}: one row needs a ${statementBytes}-byte INSERT (column \`${column}\` holds a ${sizes[big] ?? row.length}-byte value), more than the target's max_allowed_packet allows; raise max_allowed_packet on the target to at least ${needed} (SET GLOBAL max_allowed_packet = ${needed}) and run the restore again`,
    { details: { table, column, statementBytes, limit: limit + PACKET_OVERHEAD, needed } },
  );
}

/** The encoded size of each value of a row `(v1,v2,…)`: quoted strings, hex, bits, numbers, NULL. */
export function valueSizes(row: Buffer): number[] {
  const out: number[] = [];
  let i = row[0] === 0x28 ? 1 : 0;
  let start = i;
  let quoted = false;
  for (; i < row.length; i++) {
    const c = row[i] as number;
    if (quoted) {
      if (c === 0x5c) i++;
      else if (c === 0x27) quoted = false;
    } else if (c === 0x27) quoted = true;
    else if (c === 0x2c || (c === 0x29 && i === row.length - 1)) {
      out.push(i - start);
      start = i + 1;
    }
  }
  return out;
}
