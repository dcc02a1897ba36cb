/**
 * Election benchmark: 50 participants on separate connections to a local MariaDB (the coordination
 * server of a real local cluster), several rounds. Each round is one operation with no work in it:
 * the master writes TARG and MAOK, every follower writes FOOK. The time of a round is taken from the
 * server's clock: from the operation's first SCAN to its removal.
 *
 *   npm run bench:election [-- --rounds 10 --participants 50 --poll-ms 20]
 *
 * Last line: {"bench":"election","participants":50,"rounds":…,"mastersPerRound":[…],"medianMs":…,"maxMs":…}
 */
import { parseArgs } from 'node:util';
import { ensureSchema, runOperation } from '../functions/election/protocol.js';
import { startCluster } from '../functions/sandbox/harness/index.js';
import { endpointOf, historyMasters, historyRows, openSessions } from '../test/harness/election-fixtures.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '10' },
    participants: { type: 'string', default: '50' },
    'poll-ms': { type: 'string', default: '20' },
  },
});
const rounds = Number(values.rounds);
const participants = Number(values.participants);
const pollMs = Number(values['poll-ms']);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const cluster = await startCluster({ servers: 2, groups: 0, name: 'bench-election' });
try {
  const endpoint = endpointOf(cluster.primary, cluster.credentials.watchdog);
  const dbs = await openSessions(endpoint, participants);
  await ensureSchema(dbs[0]!); // setup, not timed: round 1 measures the election, not CREATE TABLE
  const times: number[] = [];
  const mastersPerRound: number[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      const wall = performance.now();
      const reports = await Promise.all(
        dbs.map((db, i) =>
          runOperation({
            db,
            participant: `group${i}@bench`,
            op: 'fail',
            leaseMs: 5000,
            followerTimeoutMs: 30_000,
            pollMs,
            asMaster: async (ctx) => {
              await ctx.writeTarg('127.0.0.1:3307');
            },
            asFollower: async () => {},
          }),
        ),
      );
      const wallMs = performance.now() - wall;
      const master = reports.filter((r) => r.role === 'master');
      const openedEpochs = new Set(reports.map((r) => r.openedEpoch));
      const rows = (await historyRows(cluster.primary)).filter((r) => openedEpochs.has(r.opened_epoch));
      const masters = [...historyMasters(rows).values()].flat();
      mastersPerRound.push(masters.length);
      const ms = master[0]?.timings.firstScanToRemovalMs ?? Number.NaN;
      times.push(ms);
      const followed = reports.filter((r) => r.role === 'follower' && r.outcome === 'followed').length;
      console.log(
        `round ${round}: master ${master.map((m) => m.participant).join(',')} epoch ${master[0]?.epoch}, ` +
          `${followed}/${participants - 1} followers FOOK, first SCAN -> removal ${ms.toFixed(1)} ms (server clock), ` +
          `wall ${wallMs.toFixed(1)} ms` +
          reports
            .filter((r) => !(r.role === 'master' || (r.role === 'follower' && r.outcome === 'followed')))
            .map((r) => `; ${r.participant} ${r.role} ${r.outcome}`)
            .join(''),
      );
    }
  } finally {
    await Promise.all(dbs.map((d) => d.close()));
  }
  console.log(
    JSON.stringify({
      bench: 'election',
      participants,
      rounds,
      mastersPerRound,
      medianMs: Math.round(median(times) * 10) / 10,
      maxMs: Math.round(Math.max(...times) * 10) / 10,
    }),
  );
} finally {
  await cluster.stop();
}
