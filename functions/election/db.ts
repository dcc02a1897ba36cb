import type { SslOptions } from 'mysql2';
import mysql from 'mysql2/promise';
import { mysqlPeerCertificate, openWithTls } from '../cluster/tls.js';
import { DbError, StateChangeRefusedError } from '../errors.js';

/**
 * The election's only port to the outside: one session on the coordination server. Every statement
 * of the protocol goes through it, so tests can run the protocol against a real server with the
 * watchdog user's real grants, and production wires the same adapter.
 */
export interface CoordinationDb {
  /** A statement that returns rows. */
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** A statement that changes rows; affectedRows decides every race of the protocol. */
  execute(sql: string, params?: readonly unknown[]): Promise<{ affectedRows: number; insertId: number }>;
  close(): Promise<void>;
}

export interface CoordinationEndpoint {
  host: string;
  port: number;
  user: string;
  password: string;
  connectTimeoutMs?: number;
  /** TLS to the server (mysqlTls(config.tls) in cluster/tls.ts). */
  ssl?: SslOptions;
  /** Per statement; a coordination server that vanished from the network must not hang us (default 10 s). */
  queryTimeoutMs?: number;
}

/**
 * Session settings of the coordination session, and why:
 * - sql_log_bin=0: election rows must not replicate. The coordination server is the routers' current
 *   target; during a failover its peer is dead or diverged, and a replicated election row would be one
 *   more transaction to reconcile (or an errant GTID on the replica, or a duplicate-key stop of the
 *   replication thread when both sides ran elections). Needs BINLOG ADMIN on MariaDB 10.5+ (SUPER no
 *   longer covers it), SESSION_VARIABLES_ADMIN on MySQL 8.
 * - time_zone '+00:00': TIMESTAMP(6) values are read back identically by every participant.
 * - READ COMMITTED: each poll sees the latest committed signals; and INSERT ... SELECT FROM operation
 *   takes no gap locks that would make 50 concurrent participants deadlock each other.
 */
export const SESSION_SETUP = [
  'SET SESSION sql_log_bin = 0',
  "SET SESSION time_zone = '+00:00'",
  'SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED',
] as const;

/** Opens the coordination session with mysql2 and checks that every session setting took effect. */
export async function connectCoordinationDb(endpoint: CoordinationEndpoint): Promise<CoordinationDb> {
  let connection: mysql.Connection;
  try {
    connection = await openWithTls(
      endpoint.ssl,
      (ssl) =>
        mysql.createConnection({
          host: endpoint.host,
          port: endpoint.port,
          user: endpoint.user,
          password: endpoint.password,
          connectTimeout: endpoint.connectTimeoutMs ?? 5000,
          // Timestamps are read as UNIX_TIMESTAMP(...) decimals; keep them exact strings, parse ourselves.
          decimalNumbers: false,
          supportBigNumbers: true,
          bigNumberStrings: false,
          ...(ssl ? { ssl } : {}),
        }),
      { host: endpoint.host, peer: mysqlPeerCertificate, close: (c) => c.destroy() },
    );
  } catch (error) {
    throw new DbError(`cannot connect to the coordination server ${endpoint.host}:${endpoint.port}`, {
      cause: error,
      details: { host: endpoint.host, port: endpoint.port },
    });
  }
  // An idle session dropped by the server must not crash the process from an 'error' event.
  connection.on('error', () => {});
  const db = wrapConnection(
    connection,
    `${endpoint.host}:${endpoint.port}`,
    endpoint.queryTimeoutMs ?? 10_000,
  );
  try {
    for (const statement of SESSION_SETUP) await db.execute(statement);
    const [check] = await db.query<{ log_bin: number | string; tz: string }>(
      'SELECT @@session.sql_log_bin AS log_bin, @@session.time_zone AS tz',
    );
    if (Number(check?.log_bin) !== 0 || check?.tz !== '+00:00') {
      throw new StateChangeRefusedError('the coordination session kept sql_log_bin or time_zone', {
        details: { sqlLogBin: check?.log_bin, timeZone: check?.tz },
      });
    }
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}

function wrapConnection(connection: mysql.Connection, where: string, timeout: number): CoordinationDb {
  const fail = (sql: string, error: unknown): never => {
    throw new DbError(`coordination server ${where}: ${(error as Error).message ?? String(error)}`, {
      cause: error,
      details: {
        statement: sql.replace(/\s+/g, ' ').slice(0, 200),
        errno: (error as { errno?: number }).errno,
      },
    });
  };
  return {
    async query<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
      try {
        const [rows] = await connection.query({ sql, values: params as unknown[], timeout });
        return rows as T[];
      } catch (error) {
        return fail(sql, error);
      }
    },
    async execute(sql: string, params: readonly unknown[] = []) {
      try {
        const [result] = await connection.query({ sql, values: params as unknown[], timeout });
        const header = result as mysql.ResultSetHeader;
        return { affectedRows: header.affectedRows ?? 0, insertId: Number(header.insertId ?? 0) };
      } catch (error) {
        return fail(sql, error);
      }
    },
    async close() {
      try {
        await connection.end();
      } catch {
        connection.destroy();
      }
    },
  };
}
