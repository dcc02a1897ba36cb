/**
 * DEFINER clauses of views, triggers, routines and events. Restoring an object whose DEFINER is another
 * account needs SET USER (or SUPER), which the watchdog deliberately does not hold (an object defined
 * as root would run as root). When the server refuses the DEFINER, the restore creates the object
 * without the clause — the restoring account becomes its definer — and reports it.
 */
const IDENT = "(?:`(?:[^`]|``)*`|'(?:[^'\\\\]|\\\\.)*'|[A-Za-z0-9_.$%-]+)";
const DEFINER_RE = new RegExp(
  `/\\*!\\d{5}\\s+DEFINER\\s*=\\s*${IDENT}\\s*@\\s*${IDENT}\\s*\\*/\\s*|\\bDEFINER\\s*=\\s*(?:${IDENT}\\s*@\\s*${IDENT}|CURRENT_USER(?:\\(\\))?)\\s*`,
  'i',
);

/** The statement without its DEFINER clause, or null when it has none. */
export function stripDefiner(sql: string): string | null {
  const head = sql.slice(0, 2000);
  const m = DEFINER_RE.exec(head);
  if (!m) return null;
  return sql.slice(0, m.index) + sql.slice(m.index + m[0].length);
}

/** The account named in the DEFINER clause (for the report). */
export function definerOf(sql: string): string | null {
  const m = DEFINER_RE.exec(sql.slice(0, 2000));
  return m
    ? m[0]
        .replace(/^\/\*!\d{5}\s+|\s*\*\/\s*$/g, '')
        .replace(/^DEFINER\s*=\s*/i, '')
        .trim()
    : null;
}

/** MariaDB/MySQL refuse a foreign DEFINER with ER_SPECIFIC_ACCESS_DENIED_ERROR (1227). */
export function isDefinerRefusal(error: unknown): boolean {
  return (error as { errno?: number } | null)?.errno === 1227;
}

/**
 * Runs one statement (the dump's exact bytes); when the server refuses its DEFINER, runs it again
 * without the clause and records that in `warnings`. Returns the affected rows.
 */
export async function execStatement(
  c: { p: { query: (sql: string) => Promise<unknown> } },
  stmt: Buffer,
  warnings: string[],
): Promise<number> {
  const sql = stmt.toString('latin1');
  let result: unknown;
  try {
    [result] = (await c.p.query(sql)) as [unknown];
  } catch (error) {
    const stripped = isDefinerRefusal(error) ? stripDefiner(sql) : null;
    if (stripped === null) throw error;
    [result] = (await c.p.query(stripped)) as [unknown];
    const name =
      /\b(VIEW|TRIGGER|PROCEDURE|FUNCTION|EVENT)\s+(`(?:[^`]|``)+`(?:\.`(?:[^`]|``)+`)?|\S+)/i.exec(stripped);
    warnings.push(
      `${name ? `${name[1]?.toUpperCase()} ${Buffer.from(name[2] ?? '', 'latin1').toString('utf8')}` : 'an object'}: DEFINER ${Buffer.from(definerOf(sql) ?? '', 'latin1').toString('utf8')} refused (no SET USER); created with the restoring account as definer`,
    );
  }
  return Array.isArray(result) ? 0 : ((result as { affectedRows?: number } | undefined)?.affectedRows ?? 0);
}
