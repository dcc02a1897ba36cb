/**
 * Free loopback ports for servers and routers.
 *
 * We pick them BELOW the kernel's ephemeral range (ip_local_port_range, usually 32768-60999). Ports in
 * that range are also handed out as the local side of outgoing connections (our clients, replication
 * IO threads, HAProxy health checks), so a server restarted on "its" ephemeral port after a crash could
 * find it taken by some connection. Below the range only listeners compete; we test-bind the port, and
 * callers retry the whole start with a new port on "address in use" (another process may take the port
 * between our test bind and the server's own bind).
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const LOWEST = 10_000;

// Ports handed out by this process recently: never hand the same one out twice while it may still be
// on its way to being bound.
const recentlyGiven = new Set<number>();

function ephemeralLow(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const value = Number(low);
    return Number.isInteger(value) && value > 0 ? value : 32_768;
  } catch {
    return 32_768;
  }
}

function tryBind(host: string, port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(null));
    server.listen({ host, port, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : null;
      server.close(() => resolve(bound));
    });
  });
}

function remember(port: number): number {
  recentlyGiven.add(port);
  if (recentlyGiven.size > 1024) recentlyGiven.delete(recentlyGiven.values().next().value as number);
  return port;
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  const high = ephemeralLow() - 1;
  if (high - LOWEST >= 1_000) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const candidate = LOWEST + Math.floor(Math.random() * (high - LOWEST + 1));
      if (recentlyGiven.has(candidate)) continue;
      if ((await tryBind(host, candidate)) === candidate) return remember(candidate);
    }
  }
  // Fallback: let the kernel choose (an ephemeral port).
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await tryBind(host, 0);
    if (port !== null && !recentlyGiven.has(port)) return remember(port);
  }
  throw new Error('no free loopback port found');
}

/** Error text of a server that could not bind its port (mariadbd log, haproxy stderr). */
export function isAddressInUse(text: string): boolean {
  return /Address already in use|EADDRINUSE|error: 98|cannot bind socket/i.test(text);
}
