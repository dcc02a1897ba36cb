/**
 * The operations' port to one database server: a session as the watchdog user with the server's
 * flavor detected once. Every state change made through it is read back by the caller (safety: a
 * MariaDB 10.11 server may refuse a change for a missing privilege, and we never report a step done
 * that the server refused).
 */
import mysql from 'mysql2/promise';
import { Flavor, inlineStatement, type Statement } from '../cluster/flavor.js';
import { mysqlPeerCertificate, mysqlTls, openWithTls } from '../cluster/tls.js';
import type { Config, ServerConfig } from '../config/schema.js';
import type { ServerId } from '../core/snapshot.js';
import { ConfigError, DbError, errorMessage } from '../errors.js';

export type Row = Record<string, unknown>;

export interface ServerAdmin {
  readonly id: ServerId;
  readonly server: ServerConfig;
  readonly flavor: Flavor;
  query<T = Row>(sql: string, values?: readonly unknown[]): Promise<T[]>;
  run(statement: Statement | string): Promise<void>;
  close(): Promise<void>;
}

export function str(v: unknown): string {
  if (v === null || v === undefined) return '';
  return Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
}

export function serverById(config: Config, id: ServerId): ServerConfig {
  const s = config.servers.find((x) => x.id === id);
  if (!s) throw new ConfigError(`server ${id} is not in the configuration`, { details: { server: id } });
  return s;
}

export async function connectAdmin(config: Config, id: ServerId): Promise<ServerAdmin> {
  const server = serverById(config, id);
  const cred = config.credentials.watchdog;
  if (!cred) throw new ConfigError('credentials.watchdog is missing');
  let connection: mysql.Connection;
  try {
    connection = await openWithTls(
      mysqlTls(config.tls).ssl,
      (ssl) =>
        mysql.createConnection({
          host: server.host,
          port: server.port,
          user: cred.user,
          password: cred.password,
          connectTimeout: config.timeouts.connectMs,
          supportBigNumbers: true,
          bigNumberStrings: true,
          dateStrings: true,
          ...(ssl ? { ssl } : {}),
        }),
      { host: server.host, peer: mysqlPeerCertificate, close: (c) => c.destroy() },
    );
  } catch (error) {
    throw new DbError(`cannot connect to ${id}: ${errorMessage(error)}`, {
      cause: error,
      details: { server: id },
    });
  }
  connection.on('error', () => {});
  const fail = (sql: string, error: unknown): never => {
    throw new DbError(`${id}: ${errorMessage(error)}`, {
      cause: error,
      details: { server: id, statement: sql.slice(0, 200), errno: (error as { errno?: number }).errno },
    });
  };
  const query = async <T>(sql: string, values: readonly unknown[] = []): Promise<T[]> => {
    try {
      const [rows] = await connection.query(sql, values as unknown[]);
      return (Array.isArray(rows) ? rows : []) as T[];
    } catch (error) {
      return fail(sql, error);
    }
  };
  const [v] = await query<Row>('SELECT @@version AS v, @@version_comment AS c');
  const flavor = Flavor.detect(str(v?.v), str(v?.c));
  return {
    id,
    server,
    flavor,
    query,
    async run(statement) {
      const s = typeof statement === 'string' ? { sql: statement } : statement;
      try {
        await connection.query(s.sql, (s.values ?? []) as unknown[]);
      } catch (error) {
        fail(inlineStatement({ sql: s.sql }), error);
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

/** One session per server for the duration of an operation; reconnects a session that broke. */
export class AdminPool {
  private readonly sessions = new Map<ServerId, Promise<ServerAdmin>>();

  constructor(private readonly config: Config) {}

  get(id: ServerId): Promise<ServerAdmin> {
    let s = this.sessions.get(id);
    if (!s) {
      s = connectAdmin(this.config, id);
      s.catch(() => this.sessions.delete(id));
      this.sessions.set(id, s);
    }
    return s;
  }

  /** Forgets a session (after an error: the next get() connects again). */
  async drop(id: ServerId): Promise<void> {
    const s = this.sessions.get(id);
    this.sessions.delete(id);
    if (s) await s.then((a) => a.close()).catch(() => {});
  }

  async close(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map((s) => s.then((a) => a.close()).catch(() => {})));
  }
}
