/**
 * One election participant as its own process, for the multi-process tests and the crash tests:
 *   node bin/run-ts.mjs test/harness/election-participant.ts '<json config>'
 * (or the esbuild bundle of this file made by election-processes.ts, which starts 50 times faster).
 *
 * Prints JSON lines on stdout: {"event":"ready"} once connected, {"event":"signal",...} after every
 * signal it wrote, {"event":"report",...} at the end. With `waitGo` it reads one line from stdin before
 * starting, so a test can start many participants at the same moment. With `dieAfter` (or env
 * ELECTION_DIE_AFTER=SIG) it SIGKILLs itself right after writing that signal: a crash, not a shutdown.
 */
import { writeFileSync, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectCoordinationDb } from '../../functions/election/db.js';
import { runOperation } from '../../functions/election/protocol.js';
import { type OperationKind, type SignalName, TABLES } from '../../functions/election/schema.js';

export interface ParticipantConfig {
  host: string;
  port: number;
  user: string;
  password: string;
  participant: string;
  op: OperationKind;
  leaseMs: number;
  followerTimeoutMs: number;
  pollMs: number;
  /** The TARG the master announces. */
  targ: string;
  /** This participant's local router: a file holding its write destination (the local router port). */
  routerFile: string;
  waitGo?: boolean;
  dieAfter?: SignalName;
  /** The master's work lasts this long (renewing its lease meanwhile). */
  masterWorkMs?: number;
  /**
   * The master's work lasts until this many other participants have joined its epoch (FOLO), within
   * AWAIT_FOLLOWERS_MS: participants a loaded machine schedules seconds late still find the operation
   * open and follow it, instead of arriving after its end (which a fixed work time cannot promise).
   */
  awaitFollowers?: number;
  /** A follower never answers: it hangs after FOLO (until killed). */
  hangAsFollower?: boolean;
  /** Shift of this process's wall clock (ms); must change nothing. */
  clockSkewMs?: number;
  /** Operations to take part in, one after the other (each after its own "go" line with waitGo). */
  rounds?: number;
}

function emit(event: Record<string, unknown>): void {
  // Synchronous: a line must be out before a self-inflicted SIGKILL.
  writeSync(1, `${JSON.stringify(event)}\n`);
}

const goLines: string[] = [];
let goWaiter: (() => void) | null = null;
function listenForGo(): void {
  createInterface({ input: process.stdin }).on('line', (line) => {
    goLines.push(line);
    goWaiter?.();
  });
}

async function waitForGo(): Promise<void> {
  while (goLines.length === 0) {
    await new Promise<void>((resolve) => {
      goWaiter = resolve;
    });
    goWaiter = null;
  }
  goLines.shift();
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as ParticipantConfig;
  const skew = config.clockSkewMs ?? 0;
  if (skew !== 0) {
    // The whole process runs on a wrong wall clock, as on a host whose NTP is broken.
    const realNow = Date.now.bind(Date);
    Date.now = () => realNow() + skew;
  }
  const dieAfter = config.dieAfter ?? (process.env.ELECTION_DIE_AFTER as SignalName | undefined);
  // 50 processes start at once on 2 cores: give the handshake time rather than fail the test on load.
  const db = await connectCoordinationDb({ ...config, connectTimeoutMs: 30_000, queryTimeoutMs: 60_000 });
  if (config.waitGo) listenForGo();
  emit({ event: 'ready', participant: config.participant, pid: process.pid });
  for (let round = 1; round <= (config.rounds ?? 1); round++) {
    if (config.waitGo) await waitForGo();
    await runOnce(config, db, dieAfter, round);
  }
  await db.close();
  process.stdin.destroy();
}

const AWAIT_FOLLOWERS_MS = 120_000;

async function followersJoined(
  db: Awaited<ReturnType<typeof connectCoordinationDb>>,
  epoch: number,
  count: number,
  signal: AbortSignal,
): Promise<void> {
  const end = Date.now() + AWAIT_FOLLOWERS_MS;
  while (!signal.aborted && Date.now() < end) {
    const [row] = await db.query<{ n: number | string }>(
      `SELECT COUNT(DISTINCT participant) AS n FROM ${TABLES.status} WHERE epoch = ? AND sig = 'FOLO'`,
      [epoch],
    );
    if (Number(row?.n) >= count) return;
    await sleep(100, undefined, { signal }).catch(() => {});
  }
}

async function runOnce(
  config: ParticipantConfig,
  db: Awaited<ReturnType<typeof connectCoordinationDb>>,
  dieAfter: SignalName | undefined,
  round: number,
): Promise<void> {
  const report = await runOperation({
    db,
    participant: config.participant,
    op: config.op,
    leaseMs: config.leaseMs,
    followerTimeoutMs: config.followerTimeoutMs,
    pollMs: config.pollMs,
    now: () => Date.now(),
    onSignal: (entry) => {
      emit({ event: 'signal', ...entry });
      if (entry.signal === dieAfter) process.kill(process.pid, 'SIGKILL');
    },
    asMaster: async (ctx) => {
      if (!ctx.resumed?.targ) await ctx.writeTarg(config.targ);
      writeFileSync(config.routerFile, `${config.targ}\n`);
      if (config.masterWorkMs)
        await sleep(config.masterWorkMs, undefined, { signal: ctx.signal }).catch(() => {});
      if (config.awaitFollowers) await followersJoined(db, ctx.epoch, config.awaitFollowers, ctx.signal);
    },
    asFollower: async (targ) => {
      if (config.hangAsFollower) await new Promise(() => {});
      writeFileSync(config.routerFile, `${targ}\n`);
    },
  });
  emit({ event: 'report', round, ...report });
}

main().catch((error: unknown) => {
  emit({ event: 'error', message: error instanceof Error ? error.message : String(error) });
  process.exitCode = 1;
});
