import mysql, { type Connection, type ConnectionOptions } from 'mysql2';
import type { Connection as PromiseConnection } from 'mysql2/promise';
import { mysqlPeerCertificate, openWithTls } from '../cluster/tls.js';
import { DbError, UsageError } from '../errors.js';

/** Where and as whom the dump or restore connects. */
export interface ConnectTarget {
  host?: string;
  port?: number;
  socketPath?: string;
  user: string;
  password: string;
  connectTimeoutMs?: number;
  /** TLS to the server (mysqlTls(config.tls) in cluster/tls.ts). */
  ssl?: ConnectionOptions['ssl'];
}

export function describeTarget(t: ConnectTarget): string {
  return t.socketPath ? t.socketPath : `${t.host ?? '127.0.0.1'}:${t.port ?? 3306}`;
}

/** Parses HOST:PORT (or [v6]:PORT, or HOST alone with port 3306). */
export function parseHostPort(value: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(value) ?? /^([^:]+)(?::(\d+))?$/.exec(value);
  if (!m) throw new UsageError(`expected HOST:PORT, got '${value}'`);
  const port = m[2] === undefined ? 3306 : Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`invalid port in '${value}'`);
  return { host: m[1] as string, port };
}

/** Both faces of one mysql2 connection: the callback one (streaming, pause/resume) and the promise one. */
export interface Conn {
  raw: Connection;
  p: PromiseConnection;
  close(): Promise<void>;
  destroy(): void;
}

export async function connect(target: ConnectTarget, extra: Partial<ConnectionOptions> = {}): Promise<Conn> {
  // A profile name (a string) is mysql2's own business: handed over as is.
  if (typeof target.ssl === 'string') return connectOnce(target, extra);
  return openWithTls(
    target.ssl,
    (ssl) => {
      const { ssl: _given, ...rest } = target;
      return connectOnce(ssl ? { ...rest, ssl } : rest, extra);
    },
    { host: target.host ?? '127.0.0.1', peer: (c) => mysqlPeerCertificate(c.raw), close: (c) => c.destroy() },
  );
}

async function connectOnce(target: ConnectTarget, extra: Partial<ConnectionOptions>): Promise<Conn> {
  const raw = mysql.createConnection({
    ...(target.socketPath
      ? { socketPath: target.socketPath }
      : { host: target.host ?? '127.0.0.1', port: target.port ?? 3306 }),
    user: target.user,
    password: target.password,
    connectTimeout: target.connectTimeoutMs ?? 10_000,
    // Values stay exact: big integers and DECIMALs as strings, dates as the server prints them.
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
    ...(target.ssl ? { ssl: target.ssl } : {}),
    ...extra,
  });
  const p = raw.promise();
  try {
    await p.connect();
  } catch (error) {
    raw.destroy();
    throw new DbError(`cannot connect to ${describeTarget(target)}: ${(error as Error).message}`, {
      cause: error,
      details: { target: describeTarget(target) },
    });
  }
  // A connection error after connect (server gone, killed) must not crash the process: the pending
  // query rejects with it.
  raw.on('error', () => undefined);
  return {
    raw,
    p,
    close: async () => {
      try {
        await p.end();
      } catch {
        raw.destroy();
      }
    },
    destroy: () => raw.destroy(),
  };
}

/**
 * Options for connections that send a dump's statements as their exact bytes: the `binary` client
 * charset makes mysql2 encode a latin1-decoded string back to the same bytes. Session tracking is off
 * because mysql2 would otherwise switch its own encoding to utf8 when a statement runs SET NAMES.
 */
export const RAW_BYTES: Partial<ConnectionOptions> = { charset: 'BINARY', flags: ['-SESSION_TRACK'] };

export type Row = Record<string, unknown>;

export async function rows<T = Row>(c: Conn, sql: string, values?: unknown[]): Promise<T[]> {
  const [r] = await c.p.query(sql, values);
  return r as T[];
}

/**
 * Runs `fn` with log_bin_trust_function_creators ON, then puts the old value back. With binary logging
 * on, MariaDB refuses CREATE TRIGGER/FUNCTION to accounts without SUPER (error 1419) even when the
 * session does not log (sql_log_bin=0, as in our restores); the watchdog never holds SUPER, but its
 * BINLOG ADMIN lets it set this variable. What it restores is never written to the binary log, so
 * trusting the definitions cannot break replication. If the variable cannot be set, `fn` runs anyway
 * and the server's own error explains what is missing.
 */
export async function withTrustedFunctionCreators<T>(c: Conn, fn: () => Promise<T>): Promise<T> {
  let changed = false;
  try {
    const [r] = await rows(c, 'SELECT @@global.log_bin_trust_function_creators AS t, @@global.log_bin AS b');
    if (Number(r?.t) === 0 && Number(r?.b) === 1) {
      await c.p.query('SET GLOBAL log_bin_trust_function_creators = ON');
      changed = true;
    }
  } catch {
    // not allowed: the CREATE statements will say so
  }
  try {
    return await fn();
  } finally {
    if (changed) await c.p.query('SET GLOBAL log_bin_trust_function_creators = OFF').catch(() => undefined);
  }
}
