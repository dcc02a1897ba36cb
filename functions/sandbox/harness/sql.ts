/**
 * Short-lived mysql2 connections for the harness: one connection per call, always closed, so a killed
 * or paused server never leaves a pooled socket behind in the test process.
 */
import mysql from 'mysql2/promise';

export type Row = Record<string, unknown>;

export interface ConnectTarget {
  host?: string;
  port?: number;
  socketPath?: string;
  user: string;
  password: string;
  database?: string;
  connectTimeoutMs?: number;
}

export type Connection = mysql.Connection;

export async function openConnection(target: ConnectTarget): Promise<Connection> {
  return mysql.createConnection({
    ...(target.socketPath ? { socketPath: target.socketPath } : { host: target.host, port: target.port }),
    user: target.user,
    password: target.password,
    database: target.database,
    connectTimeout: target.connectTimeoutMs ?? 5_000,
    // Replication positions and counters are big integers; keep them exact.
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
  });
}

/** Runs one statement on its own connection and returns rows (SELECT/SHOW) or the result header. */
export async function queryOnce<T = Row[]>(
  target: ConnectTarget,
  sql: string,
  params?: unknown[],
): Promise<T> {
  const connection = await openConnection(target);
  try {
    const [result] = await connection.query(sql, params);
    return result as T;
  } finally {
    await connection.end().catch(() => connection.destroy());
  }
}

/** Runs statements in order on one connection (session settings carry over). */
export async function runStatements(target: ConnectTarget, statements: readonly string[]): Promise<void> {
  const connection = await openConnection(target);
  try {
    for (const sql of statements) await connection.query(sql);
  } finally {
    await connection.end().catch(() => connection.destroy());
  }
}

/**
 * Which server a NEW connection through a router lands on ("127.0.0.1:<@@port>"), or null if the
 * router accepts nothing or forwards to nothing.
 */
export async function routesThrough(
  router: { host: string; port: number },
  account: { user: string; password: string },
  timeoutMs: number,
): Promise<string | null> {
  try {
    const rows = await queryOnce<{ port: number | string }[]>(
      { host: router.host, port: router.port, ...account, connectTimeoutMs: timeoutMs },
      'SELECT @@port AS port',
    );
    const port = rows[0]?.port;
    return port === undefined ? null : `127.0.0.1:${port}`;
  } catch {
    return null;
  }
}
