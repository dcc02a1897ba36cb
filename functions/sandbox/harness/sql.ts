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
