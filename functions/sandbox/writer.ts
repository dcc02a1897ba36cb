/**
 * An acknowledged-writes writer for the drill and the benchmark: one loop per router, each inserting
 * rows with unique ids through its router with autocommit. A write counts as acknowledged only when
 * the server answered OK to its INSERT; the id, the router and the server_id of the connection it went
 * through are kept. After a failover every acknowledged id must be on the new primary, or be listed in
 * a salvage record: that is the drill's "lost acknowledged writes" check.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';

export const WRITER_SCHEMA = 'app_drill';
export const WRITER_TABLE = 'acked';

export interface WriterRouter {
  group: string;
  host: string;
  port: number;
}

export interface Ack {
  id: string;
  group: string;
  serverId: number;
  atMs: number;
}

export interface WriterStats {
  attempted: number;
  acked: number;
  errors: number;
  perGroup: Record<string, { acked: number; errors: number }>;
}

/** Statements (run as root on the primary, replicated) creating the writer's schema and account. */
export function writerSetupStatements(user: string, password: string): string[] {
  return [
    `CREATE DATABASE IF NOT EXISTS ${WRITER_SCHEMA}`,
    `CREATE TABLE IF NOT EXISTS ${WRITER_SCHEMA}.${WRITER_TABLE} (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, grp VARCHAR(16) NOT NULL, payload VARCHAR(64) NOT NULL, at DATETIME(6) NOT NULL DEFAULT NOW(6)) ENGINE=InnoDB`,
    `CREATE USER IF NOT EXISTS '${user}'@'%' IDENTIFIED BY '${password.replace(/'/g, "''")}'`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ${WRITER_SCHEMA}.* TO '${user}'@'%'`,
  ];
}

/** How a loop connects again after a failed write or connection. */
export interface WriterRetry {
  /** How long one connection attempt may take (ms). */
  connectTimeoutMs: number;
  /** The pause after a first failure (ms); it doubles with each failure in a row... */
  firstPauseMs: number;
  /** ...up to this (ms). */
  maxPauseMs: number;
}

/**
 * Connect again at once, every 50 ms: the drill and bench:detect time the first acknowledged write on
 * the new primary, and a longer pause would add to what they measure.
 */
export const EAGER_RETRY: WriterRetry = { connectTimeoutMs: 1_000, firstPauseMs: 50, maxPauseMs: 50 };

/**
 * Connect again as a pooled application does: wait for a slow connection, back off while the database
 * is out of reach. Each connection a client gives up on stays in MySQL Router until the destination
 * greets it, and reaches the server then: 1 s attempts every 50 ms left a router whose destination
 * did not greet 3 such connections in 3 s (chaos-plumbing test), and a flood of them fills a server's
 * sessions ("Too many connections"). sysbench-load.ts has the larger source of that flood.
 */
export const PATIENT_RETRY: WriterRetry = { connectTimeoutMs: 5_000, firstPauseMs: 50, maxPauseMs: 1_000 };

/** The pause after `failures` failures in a row (at least 1). */
export function retryPauseMs(retry: WriterRetry, failures: number): number {
  return Math.min(retry.maxPauseMs, retry.firstPauseMs * 2 ** Math.min(failures - 1, 30));
}

export class AckWriter {
  readonly acks: Ack[] = [];
  private readonly stats: WriterStats = { attempted: 0, acked: 0, errors: 0, perGroup: {} };
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly routers: readonly WriterRouter[],
    private readonly account: { user: string; password: string },
    /** Pause between writes of one loop (ms); 0 writes as fast as the server answers. */
    private readonly pauseMs = 5,
    private readonly retry: WriterRetry = EAGER_RETRY,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loops = this.routers.map((r, i) => this.loop(r, i + 1));
  }

  async stop(): Promise<WriterStats> {
    this.running = false;
    await Promise.all(this.loops);
    return this.summary();
  }

  summary(): WriterStats {
    return JSON.parse(JSON.stringify(this.stats)) as WriterStats;
  }

  /** Acknowledged ids (as strings: BIGINT). */
  ids(): Set<string> {
    return new Set(this.acks.map((a) => a.id));
  }

  /** The first acknowledged write at or after `fromMs` through each group's router that landed on `serverId`. */
  firstAckOn(serverId: number, fromMs: number): Map<string, number> {
    const out = new Map<string, number>();
    for (const a of this.acks) {
      if (a.serverId !== serverId || a.atMs < fromMs) continue;
      const prev = out.get(a.group);
      if (prev === undefined || a.atMs < prev) out.set(a.group, a.atMs);
    }
    return out;
  }

  private async loop(router: WriterRouter, index: number): Promise<void> {
    const g = this.stats.perGroup[router.group] ?? { acked: 0, errors: 0 };
    this.stats.perGroup[router.group] = g;
    let seq = 0;
    let conn: mysql.Connection | null = null;
    let serverId = 0;
    let failures = 0;
    while (this.running) {
      try {
        if (!conn) {
          conn = await mysql.createConnection({
            host: router.host,
            port: router.port,
            user: this.account.user,
            password: this.account.password,
            connectTimeout: this.retry.connectTimeoutMs,
          });
          conn.on('error', () => {});
          const [rows] = await conn.query('SELECT @@server_id AS id');
          serverId = Number((rows as Array<{ id: number }>)[0]?.id);
        }
        seq += 1;
        const id = `${index}${String(seq).padStart(12, '0')}`;
        this.stats.attempted++;
        await conn.query(`INSERT INTO ${WRITER_SCHEMA}.${WRITER_TABLE} (id, grp, payload) VALUES (?, ?, ?)`, [
          id,
          router.group,
          `w${seq}`,
        ]);
        this.acks.push({ id, group: router.group, serverId, atMs: Date.now() });
        this.stats.acked++;
        g.acked++;
        failures = 0;
      } catch {
        this.stats.errors++;
        g.errors++;
        conn?.destroy();
        conn = null;
        failures++;
        await sleep(retryPauseMs(this.retry, failures));
      }
      if (this.pauseMs > 0) await sleep(this.pauseMs);
    }
    if (conn) await conn.end().catch(() => conn?.destroy());
  }
}
