/**
 * Which routers send new connections to a server, observed now through every configured router of
 * every group: a server any router sends connections to takes writes, and is never overwritten
 * (reseed, restore).
 */
import type { Config } from '../config/schema.js';
import type { ServerId } from '../core/snapshot.js';
import { observe, targetFromConfig } from './observe.js';
import { mysqlTls } from './tls.js';

/** The routers (`group/id`) whose current target is `server`. */
export async function routersSendingTo(
  config: Config,
  server: ServerId,
  cred: { user: string; password: string },
): Promise<string[]> {
  const snapshot = await observe(targetFromConfig(config), {
    user: cred.user,
    password: cred.password,
    connectTimeoutMs: config.timeouts.connectMs,
    queryTimeoutMs: config.timeouts.queryMs,
    readOperation: false,
    ...mysqlTls(config.tls),
  });
  return snapshot.routers.filter((r) => r.routesTo === server).map((r) => `${r.group}/${r.id}`);
}
