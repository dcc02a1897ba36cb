/**
 * Every few seconds, how many sessions each server of a chaos run holds, by account and command, one
 * line appended to `connections.log` in the cluster folder. A stalled round's report carries the tail
 * of every log there, so a server that answered "Too many connections" says whose sessions filled it.
 *
 * It reads through one root session per server, kept open between samples: a session once opened is
 * never refused, and MySQL and MariaDB keep one more above max_connections for an account with
 * CONNECTION_ADMIN, so a full server can still be counted after a restart.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BackgroundLoop } from './background-loop.js';
import { fileTail } from './harness/diagnostics.js';
import type { Connection, ConnectTarget } from './harness/sql.js';
import { openConnection } from './harness/sql.js';

export interface CensusServer {
  name: string;
  rootTarget(): ConnectTarget;
}

const CENSUS_SQL =
  'SELECT USER AS user, COMMAND AS command, COUNT(*) AS n FROM information_schema.PROCESSLIST GROUP BY USER, COMMAND ORDER BY n DESC';
/** Groups named on a line per server, the largest first. */
const GROUPS_SHOWN = 4;

/** One server's sample as text: `db1 1952 (unauthenticated user/Connect 1940, watchdog/Sleep 9)`. */
export function formatCensus(
  name: string,
  rows: ReadonlyArray<{ user: unknown; command: unknown; n: unknown }>,
): string {
  const total = rows.reduce((sum, r) => sum + Number(r.n), 0);
  const shown = rows
    .slice(0, GROUPS_SHOWN)
    .map((r) => `${String(r.user ?? '-')}/${String(r.command)} ${r.n}`);
  const more = rows.length > GROUPS_SHOWN ? ', ...' : '';
  return `${name} ${total} (${shown.join(', ')}${more})`;
}

export class ConnectionCensus extends BackgroundLoop {
  private readonly sessions = new Map<string, Connection>();
  readonly path: string;

  constructor(
    private readonly servers: readonly CensusServer[],
    dir: string,
    private readonly everyMs = 5_000,
  ) {
    super();
    this.path = join(dir, 'connections.log');
  }

  /** The last lines written (about `bytes` of them), for a report; '' before the first. */
  tail(bytes = 2_000): string {
    try {
      return fileTail(this.path, bytes).tail.trimEnd();
    } catch {
      return '';
    }
  }

  protected override stopped(): void {
    for (const s of this.sessions.values()) s.destroy();
    this.sessions.clear();
  }

  private async sample(server: CensusServer): Promise<string> {
    try {
      let session = this.sessions.get(server.name);
      if (!session) {
        session = await openConnection({ ...server.rootTarget(), connectTimeoutMs: 3_000 });
        session.on('error', () => {});
        this.sessions.set(server.name, session);
      }
      const [rows] = await session.query({ sql: CENSUS_SQL, timeout: 3_000 });
      return formatCensus(server.name, rows as Array<{ user: unknown; command: unknown; n: unknown }>);
    } catch (error) {
      this.sessions.get(server.name)?.destroy();
      this.sessions.delete(server.name);
      const e = error as { code?: unknown; message?: unknown };
      return `${server.name} ? (${String(e.code ?? e.message)})`;
    }
  }

  protected async run(): Promise<void> {
    while (this.running) {
      const parts = await Promise.all(this.servers.map((s) => this.sample(s)));
      try {
        appendFileSync(this.path, `${new Date().toISOString().slice(11, 23)} ${parts.join(' | ')}\n`);
      } catch {
        // the cluster folder is gone: the run is ending
      }
      for (let waited = 0; this.running && waited < this.everyMs; waited += 250) await sleep(250);
    }
  }
}
