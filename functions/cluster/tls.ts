/**
 * TLS to the database servers, from the config's `tls: { mode, caPath }`, as mysql2 connection options.
 * Every place that opens a watchdog session (observe, operations, election, dump and restore) spreads
 * the result into its connection options, so one setting covers them all.
 *
 *   off        plain TCP
 *   preferred  TLS without checking the certificate (mysql2 has no opportunistic mode: the server
 *              must offer TLS, as every MySQL 8 and MariaDB 11.4+ server does by default)
 *   required   TLS without checking the certificate (MySQL's --ssl-mode=REQUIRED)
 *   verify-ca  TLS, the server certificate must chain to the CA at caPath (or the system CAs);
 *              the host name is not compared (MySQL's --ssl-mode=VERIFY_CA)
 */
import { readFileSync } from 'node:fs';
import type { SslOptions } from 'mysql2';
import type { Config } from '../config/schema.js';
import { ConfigError, errorMessage } from '../errors.js';

export type TlsConfig = Config['tls'];

const caCache = new Map<string, string>();

function readCa(path: string): string {
  const cached = caCache.get(path);
  if (cached !== undefined) return cached;
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`tls.caPath: cannot read ${path}: ${errorMessage(error)}`, { cause: error });
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ConfigError(`tls.caPath: ${path} holds no PEM certificate`);
  }
  caCache.set(path, pem);
  return pem;
}

/** mysql2's `ssl` option for the configured mode (nothing for `off` or no tls config at all). */
export function mysqlTls(tls: TlsConfig | undefined): { ssl?: SslOptions } {
  if (!tls || tls.mode === 'off') return {};
  if (tls.mode === 'verify-ca') {
    return {
      ssl: {
        rejectUnauthorized: true,
        ...(tls.caPath ? { ca: readCa(tls.caPath) } : {}),
      },
    };
  }
  return { ssl: { rejectUnauthorized: false } };
}
