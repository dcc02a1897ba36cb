/**
 * The chaos loop's split-brain probe: through every router, every 250 ms, a new connection asks which
 * server it landed on, whether that server is writable, and the server's own clock (every server of a
 * sandbox runs on one machine, so their clocks are one clock).
 *
 * Point samples show two servers writable at one moment only when one of them is seen writable before
 * and after the other: server A writable at p and at q, with no sample of A read-only in between, and
 * another server writable at a moment between p and q. That is a split-brain window. p and q at most
 * 3 s apart: over a longer gap (every router sent elsewhere), A may have been fenced and opened again
 * (a failover, then a failback to A), and "writable throughout" no longer follows.
 *
 * Two servers writable in one pass of samples without such a bracket are counted apart, as
 * unconfirmed: on a loaded machine a pass takes up to 2 s, and a fence of the old primary followed by
 * the promotion of the new one, in that order, shows that way too.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import { BackgroundLoop } from './background-loop.js';

/** One answer through a router: the server it landed on, writable or not, at the server's clock (s). */
export interface WritableSample {
  router: string;
  server: number;
  writable: boolean;
  at: number;
}

/** How long samples are kept (s of server clock): longer than any bracket. */
const HISTORY_S = 10;
/** The longest bracket: two samples of one server at most this far apart (s). */
const MAX_BRACKET_S = 3;
const PASS_PAUSE_MS = 250;
/** One sample's limits: its connection, its query, and the whole of it. */
const SAMPLE_CONNECT_MS = 1_500;
const SAMPLE_LIMIT_MS = 2_000;

/**
 * A bracket that `pass` closes: a writable sample of server A in `pass` whose previous sample of A
 * (in `history`, which holds `pass` too) was writable, and a writable sample of another server at a
 * moment between the two. The three samples, or null.
 */
export function closedBracket(
  history: readonly WritableSample[],
  pass: readonly WritableSample[],
): [WritableSample, WritableSample, WritableSample] | null {
  for (const q of pass) {
    if (!q.writable) continue;
    let p: WritableSample | null = null;
    for (const s of history) if (s.server === q.server && s.at < q.at && (!p || s.at > p.at)) p = s;
    if (!p?.writable || q.at - p.at > MAX_BRACKET_S) continue;
    const other = history.find((s) => s.server !== q.server && s.writable && s.at >= p.at && s.at <= q.at);
    if (other) return [p, other, q];
  }
  return null;
}

function describe(s: WritableSample): string {
  return `${s.router}->server ${s.server} ${s.writable ? 'writable' : 'read-only'} at ${new Date(s.at * 1000).toISOString()}`;
}

export class SplitBrainProbe extends BackgroundLoop {
  /** Split-brain windows: brackets closed, one per run of passes that close one. */
  windows = 0;
  /** Passes in which two servers answered writable without a bracket (not a window). */
  unconfirmed = 0;
  samples = 0;
  /** Samples that got an answer from a server. */
  answers = 0;
  readonly evidence: string[] = [];
  readonly unconfirmedEvidence: string[] = [];
  private inWindow = false;
  private history: WritableSample[] = [];

  constructor(
    private readonly routers: ReadonlyArray<{ name: string; host: string; port: number }>,
    private readonly account: { user: string; password: string },
  ) {
    super();
  }

  private async sample(r: { name: string; host: string; port: number }): Promise<WritableSample | null> {
    let conn: mysql.Connection | undefined;
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      conn?.destroy();
    }, SAMPLE_LIMIT_MS);
    try {
      conn = await mysql.createConnection({
        host: r.host,
        port: r.port,
        ...this.account,
        connectTimeout: SAMPLE_CONNECT_MS,
      });
      conn.on('error', () => {});
      if (late) return null;
      const [rows] = await conn.query({
        sql: 'SELECT @@server_id AS id, @@read_only AS ro, UNIX_TIMESTAMP(NOW(6)) AS at',
        timeout: SAMPLE_CONNECT_MS,
      });
      const row = (rows as Array<{ id: unknown; ro: unknown; at: unknown }>)[0];
      const at = Number(row?.at);
      return row && Number.isFinite(at)
        ? { router: r.name, server: Number(row.id), writable: Number(row.ro) === 0, at }
        : null;
    } catch {
      return null;
    } finally {
      clearTimeout(timer);
      conn?.destroy();
    }
  }

  /** Takes one pass of samples into the history and judges it. */
  judge(pass: readonly WritableSample[]): void {
    this.samples++;
    this.answers += pass.length;
    this.history.push(...pass);
    const newest = Math.max(...this.history.map((s) => s.at));
    this.history = this.history.filter((s) => s.at >= newest - HISTORY_S);
    const bracket = closedBracket(this.history, pass);
    if (bracket) {
      if (!this.inWindow) {
        this.windows++;
        this.evidence.push(
          `server ${bracket[0].server} writable before and after server ${bracket[1].server} was: ${bracket.map(describe).join(', ')}`,
        );
      }
      this.inWindow = true;
      return;
    }
    this.inWindow = false;
    if (new Set(pass.filter((s) => s.writable).map((s) => s.server)).size > 1) {
      this.unconfirmed++;
      this.unconfirmedEvidence.push(pass.map(describe).join(', '));
    }
  }

  protected async run(): Promise<void> {
    while (this.running) {
      const seen = await Promise.all(this.routers.map((r) => this.sample(r)));
      this.judge(seen.filter((s): s is WritableSample => s !== null));
      await sleep(PASS_PAUSE_MS);
    }
  }
}
