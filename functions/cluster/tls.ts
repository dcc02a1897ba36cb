/**
 * TLS to the database servers, from the config's `tls: { mode, ca | caPath }`, as mysql2 connection
 * options. Every place that opens a watchdog session (observe, operations, election, dump and restore)
 * spreads the result into its connection options, so one setting covers them all. The modes mean what
 * MySQL's --ssl-mode says:
 *
 *   off              plain TCP
 *   preferred        TLS when the server offers it, else plain TCP (the certificate is not checked):
 *                    `ssl.optional` tells the connection places to retry without TLS when the server
 *                    has none (openWithTls)
 *   required         TLS or no connection; the certificate is not checked
 *   verify-ca        TLS, the server certificate must chain to the configured CA, and only to it: the
 *                    public CA list is never used. The host name is not compared
 *   verify-identity  verify-ca, and the certificate must name the host connected to (DNS or IP SAN)
 *
 * The CA is given inline (`tls.ca`: the PEM text, e.g. from an SSM SecureString or a Secrets Manager
 * secret) or as a file (`tls.caPath`); verify-ca and verify-identity need one (the schema says so).
 */
import { readFileSync } from 'node:fs';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import type { SslOptions } from 'mysql2';
import type { Config } from '../config/schema.js';
import { ConfigError, DbError, errorMessage } from '../errors.js';

export type TlsConfig = Config['tls'];

/** mysql2's SslOptions, plus whether a server without TLS may be reached in plain TCP (preferred). */
export type WatchdogSslOptions = SslOptions & { optional?: boolean; identity?: boolean };

const caCache = new Map<string, string>();

function checkPem(pem: string, where: string): string {
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new ConfigError(`${where} holds no PEM certificate`);
  return pem;
}

function readCa(path: string): string {
  const cached = caCache.get(path);
  if (cached !== undefined) return cached;
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`tls.caPath: cannot read ${path}: ${errorMessage(error)}`, { cause: error });
  }
  caCache.set(path, checkPem(pem, `tls.caPath: ${path}`));
  return pem;
}

function caOf(tls: NonNullable<TlsConfig>): string {
  if (tls.ca) return checkPem(tls.ca, 'tls.ca');
  if (tls.caPath) return readCa(tls.caPath);
  throw new ConfigError(`tls.mode ${tls.mode} needs the CA: tls.ca (PEM text) or tls.caPath`);
}

/** mysql2's `ssl` option for the configured mode (nothing for `off` or no tls config at all). */
export function mysqlTls(tls: TlsConfig | undefined): { ssl?: WatchdogSslOptions } {
  if (!tls || tls.mode === 'off') return {};
  if (tls.mode === 'verify-ca' || tls.mode === 'verify-identity') {
    // `ca` replaces Node's default list: only the configured CA is trusted.
    return {
      // The host name is compared by openWithTls (identity), for IP addresses too: mysql2 leaves an IP
      // address to Node, which then checks the name "localhost".
      ssl: {
        rejectUnauthorized: true,
        ca: caOf(tls),
        ...(tls.mode === 'verify-identity' ? { identity: true } : {}),
      },
    };
  }
  return { ssl: { rejectUnauthorized: false, ...(tls.mode === 'preferred' ? { optional: true } : {}) } };
}

/** Whether replication (CHANGE MASTER … MASTER_SSL) uses TLS, and verifies the source's certificate. */
export function replicationTls(tls: TlsConfig | undefined): { ssl: boolean; verifyServerCert: boolean } {
  const mode = tls?.mode ?? 'off';
  return {
    ssl: mode === 'required' || mode === 'verify-ca' || mode === 'verify-identity',
    verifyServerCert: mode === 'verify-identity',
  };
}

/** What openWithTls needs to check the host name itself (verify-identity). */
export interface IdentityCheck<T> {
  host: string;
  /** The server's certificate on the connection just opened. */
  peer: (connection: T) => PeerCertificate | undefined;
  close: (connection: T) => void;
}

/**
 * Opens a connection with `open(ssl)`; for `preferred`, again without TLS when the server offers none
 * (mysql2 refuses with HANDSHAKE_NO_SSL_SUPPORT before any credential is sent). For verify-identity it
 * compares the host name with the certificate itself: mysql2 leaves an IP address to Node, which then
 * checks the name "localhost" instead.
 */
export async function openWithTls<T>(
  ssl: WatchdogSslOptions | undefined,
  open: (ssl: SslOptions | undefined) => Promise<T>,
  identity?: IdentityCheck<T>,
): Promise<T> {
  if (!ssl) return open(undefined);
  const { optional, identity: wantsIdentity, ...options } = ssl;
  if (wantsIdentity && !identity)
    throw new ConfigError('verify-identity: this connection cannot check the host name');
  let connection: T;
  try {
    connection = await open(options);
  } catch (error) {
    const e = error as { code?: unknown; cause?: { code?: unknown } };
    const noTls = e.code === 'HANDSHAKE_NO_SSL_SUPPORT' || e.cause?.code === 'HANDSHAKE_NO_SSL_SUPPORT';
    if (optional && noTls) return open(undefined);
    throw error;
  }
  if (wantsIdentity && identity) {
    const cert = identity.peer(connection);
    const mismatch = cert ? checkServerIdentity(identity.host, cert) : new Error('no server certificate');
    if (mismatch) {
      identity.close(connection);
      throw new DbError(`cannot connect to ${identity.host}: ${mismatch.message}`, { cause: mismatch });
    }
  }
  return connection;
}

/** The peer certificate of a mysql2 connection (promise or callback API) that went over TLS. */
export function mysqlPeerCertificate(connection: unknown): PeerCertificate | undefined {
  const c = connection as { stream?: unknown; connection?: { stream?: unknown } };
  const stream = (c.connection?.stream ?? c.stream) as
    | { getPeerCertificate?: () => PeerCertificate }
    | undefined;
  return stream?.getPeerCertificate?.();
}
