/**
 * Free loopback ports. The kernel picks a free one when we bind port 0; we release it at once and the
 * server binds it a moment later, so another process (a parallel test worker) may take it in between.
 * Callers therefore retry the whole start on "address in use" with a new port.
 */
import { createServer } from 'node:net';

// Ports handed out by this process recently: never hand the same one out twice while it may still be
// on its way to being bound.
const recentlyGiven = new Set<number>();

export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.unref();
      server.once('error', reject);
      server.listen({ host, port: 0, exclusive: true }, () => {
        const address = server.address();
        const chosen = typeof address === 'object' && address ? address.port : 0;
        server.close(() => resolve(chosen));
      });
    });
    if (port > 0 && !recentlyGiven.has(port)) {
      recentlyGiven.add(port);
      if (recentlyGiven.size > 512) recentlyGiven.delete(recentlyGiven.values().next().value as number);
      return port;
    }
  }
  throw new Error('no free loopback port found');
}

/** Error text of a server that could not bind its port (mariadbd log, haproxy stderr). */
export function isAddressInUse(text: string): boolean {
  return /Address already in use|EADDRINUSE|error: 98|cannot bind socket/i.test(text);
}
