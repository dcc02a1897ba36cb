/**
 * The secrets scan of the security tests (issue 13): everything a run wrote — results, reports, log
 * lines, notifications, objects (gzipped ones decompressed), journal tables — searched for the
 * passwords it was given. A hit names where, never the whole password.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

/** Every file under `dir` (none when it does not exist), gunzipped when gzipped. */
export function filesUnder(dir: string): Array<{ path: string; text: string }> {
  if (!existsSync(dir)) return [];
  const out: Array<{ path: string; text: string }> = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      out.push(...filesUnder(path));
      continue;
    }
    let bytes = readFileSync(path);
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
    out.push({ path, text: bytes.toString('latin1') });
  }
  return out;
}

/** One line per password found in `text`, naming `where` and the password's first characters only. */
export function leaks(passwords: readonly string[], where: string, text: string): string[] {
  return passwords.filter((p) => text.includes(p)).map((p) => `${where} contains ${p.slice(0, 5)}…`);
}

/** Every table of the `ongoing_failover` journal on `server`, as JSON text. */
export async function journalText(server: { query: <T>(sql: string) => Promise<T> }): Promise<string> {
  const tables = await server.query<Array<{ t: unknown }>>(
    "SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'ongoing_failover'",
  );
  const out: string[] = [];
  for (const { t } of tables) {
    out.push(JSON.stringify(await server.query(`SELECT * FROM ongoing_failover.\`${String(t)}\``)));
  }
  return out.join('\n');
}

/**
 * Captures what this process prints (Powertools logs, EMF metrics) until `stop()`; nothing reaches
 * the terminal meanwhile.
 */
export function captureOutput(): { printed: string[]; stop: () => void } {
  const printed: string[] = [];
  const stdout = process.stdout.write.bind(process.stdout);
  const stderr = process.stderr.write.bind(process.stderr);
  const capture = (chunk: unknown): boolean => {
    printed.push(String(chunk));
    return true;
  };
  process.stdout.write = capture as typeof process.stdout.write;
  process.stderr.write = capture as typeof process.stderr.write;
  return {
    printed,
    stop: () => {
      process.stdout.write = stdout;
      process.stderr.write = stderr;
    },
  };
}
