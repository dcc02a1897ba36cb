/**
 * Which routers send new connections to a server, observed now through every configured router of
 * every group: a server any router sends connections to takes writes, and is never overwritten
 * (reseed, restore).
 */
import type { Config } from '../config/schema.js';
import type { ServerId, Snapshot } from '../core/snapshot.js';
import { observe, targetFromConfig } from './observe.js';
import { mysqlTls } from './tls.js';

/** One observation of every configured router of every group (and the servers they land on). */
export function observeRouters(config: Config, cred: { user: string; password: string }): Promise<Snapshot> {
  return observe(targetFromConfig(config), {
    user: cred.user,
    password: cred.password,
    connectTimeoutMs: config.timeouts.connectMs,
    queryTimeoutMs: config.timeouts.queryMs,
    readOperation: false,
    ...mysqlTls(config.tls),
  });
}

/** The routers (`group/id`) of a snapshot whose current target is `server`. */
export function sendingTo(snapshot: Snapshot, server: ServerId): string[] {
  return snapshot.routers.filter((r) => r.routesTo === server).map((r) => `${r.group}/${r.id}`);
}

/** The routers (`group/id`) whose current target is `server`, observed now. */
export async function routersSendingTo(
  config: Config,
  server: ServerId,
  cred: { user: string; password: string },
): Promise<string[]> {
  return sendingTo(await observeRouters(config, cred), server);
}
