/**
 * A separate node process that starts a small cluster, prints its folder and process ids as one JSON
 * line, and then waits forever. The reaper test SIGKILLs it and checks nothing it started survives.
 */
import { startCluster } from '../../functions/sandbox/harness/index.js';

const cluster = await startCluster({ servers: 2, groups: 1, name: 'reaper-child' });
const pids = [...cluster.servers.map((s) => s.pid), ...cluster.routers.map((r) => r.pid)];
process.stdout.write(`${JSON.stringify({ dir: cluster.dir, pids })}\n`);
setInterval(() => undefined, 60_000);
