/**
 * Which server holds `ongoing_failover`: every participant must pick the same one from the same
 * observation, without talking to the others first. See README "Where it lives" for the rule and why.
 */

export interface ServerAddress {
  host: string;
  port: number;
}

export interface CoordinationObservation {
  /** Every configured database server, and whether this participant could reach it. */
  servers: readonly (ServerAddress & { reachable: boolean })[];
  /** Every router this participant observed; `target` is the server it currently sends writes to. */
  routers: readonly { reachable: boolean; target: ServerAddress | null }[];
}

export type CoordinationPick =
  | { server: ServerAddress; rule: 'router-target' | 'lowest-address'; votes: number; reason: string }
  | { server: null; rule: 'none'; votes: 0; reason: string };

export function addressKey(a: ServerAddress): string {
  return `${a.host}:${a.port}`;
}

/** Total order on addresses: host as a string, then port as a number; the same on every participant. */
export function compareAddress(a: ServerAddress, b: ServerAddress): number {
  if (a.host !== b.host) return a.host < b.host ? -1 : 1;
  return a.port - b.port;
}

/**
 * The rule:
 * 1. The server most routers currently send writes to (each answering router votes for its target;
 *    targets that are not configured servers do not count). Ties go to the lowest host:port.
 * 2. If no router answered with a target: the lowest configured host:port.
 * 3. If the picked server is not reachable from this participant: no server (null). We never fall
 *    back to another server, because the others would not: two coordination servers would mean two
 *    operations at once. A participant that cannot reach the pick must not act.
 */
export function pickCoordinationServer(observation: CoordinationObservation): CoordinationPick {
  const configured = new Map(observation.servers.map((s) => [addressKey(s), s]));
  const votes = new Map<string, number>();
  for (const router of observation.routers) {
    if (!router.reachable || !router.target) continue;
    const key = addressKey(router.target);
    if (!configured.has(key)) continue;
    votes.set(key, (votes.get(key) ?? 0) + 1);
  }
  let pick: (ServerAddress & { reachable: boolean }) | undefined;
  let pickVotes = 0;
  let rule: 'router-target' | 'lowest-address' = 'router-target';
  for (const [key, count] of votes) {
    const server = configured.get(key)!;
    if (!pick || count > pickVotes || (count === pickVotes && compareAddress(server, pick) < 0)) {
      pick = server;
      pickVotes = count;
    }
  }
  if (!pick) {
    rule = 'lowest-address';
    pick = [...observation.servers].sort(compareAddress)[0];
  }
  if (!pick) return { server: null, rule: 'none', votes: 0, reason: 'no database server is configured' };
  if (!pick.reachable) {
    return {
      server: null,
      rule: 'none',
      votes: 0,
      reason: `the coordination server ${addressKey(pick)} (${rule}) is not reachable from here; not acting`,
    };
  }
  const reason =
    rule === 'router-target'
      ? `${pickVotes} of ${observation.routers.length} routers send writes to ${addressKey(pick)}`
      : `no router reported a target; lowest configured address ${addressKey(pick)}`;
  return { server: { host: pick.host, port: pick.port }, rule, votes: pickVotes, reason };
}

/** The part of the watchdog's snapshot the rule needs (structurally the core `Snapshot`). */
export interface SnapshotLike {
  servers: readonly { id: string; host: string; port: number; reachable: boolean }[];
  routers: readonly { reachable: boolean; routesTo: string | null }[];
}

/** Builds the rule's input from one observation: each router's target is the server it routes to. */
export function coordinationObservation(snapshot: SnapshotLike): CoordinationObservation {
  const byId = new Map(snapshot.servers.map((s) => [s.id, s]));
  return {
    servers: snapshot.servers.map((s) => ({ host: s.host, port: s.port, reachable: s.reachable })),
    routers: snapshot.routers.map((r) => {
      const server = r.routesTo === null ? undefined : byId.get(r.routesTo);
      return { reachable: r.reachable, target: server ? { host: server.host, port: server.port } : null };
    }),
  };
}
