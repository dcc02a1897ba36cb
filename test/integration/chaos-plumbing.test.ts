/**
 * The chaos loop's own plumbing. A child process's report reaches its parent whole: the loop once read
 * a 219 KB report of its child watchdog cut short (the child called process.exit right after writing
 * to the pipe) and died on JSON.parse. A harness that fails is reported as such, never as a crash.
 * Real processes and real pipes.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, parseConfig } from '../../functions/config/schema.js';
import { DbError } from '../../functions/errors.js';
import { connectAdmin } from '../../functions/operations/admin.js';
import {
  CheckerUnreachable,
  checkerConfig,
  checksumWithin,
  retryWithin,
} from '../../functions/sandbox/checker.js';
import { lastJsonLine, readWhole, waitForOutput } from '../../functions/sandbox/child-output.js';
import { ConnectionCensus } from '../../functions/sandbox/connection-census.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import { SplitBrainProbe } from '../../functions/sandbox/split-brain.js';
import {
  prepareSysbench,
  SYSBENCH_RESTART_PAUSE_MS,
  SysbenchLoad,
  sysbenchScriptIn,
} from '../../functions/sandbox/sysbench-load.js';
import { AckWriter, PATIENT_RETRY, retryPauseMs } from '../../functions/sandbox/writer.js';
import { pollUntil } from '../harness/wait.js';

const PIPE_BUFFERS = 4;
const BYTES = PIPE_BUFFERS * 219_000;

describe('a child report across a pipe', () => {
  it('arrives whole, several pipe buffers long, at a parent that is busy while the child finishes', async () => {
    const child = spawn(
      process.execPath,
      [resolve('bin/run-ts.mjs'), resolve('test/harness/big-report-child.ts'), String(BYTES)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const output = readWhole(child);
    expect(await waitForOutput(child, 'started', 120_000)).toBe(true);
    // The fault: the parent reads nothing for a while, as a loop busy with its own work does.
    child.stdout.pause();
    await sleep(1_000);
    child.stdout.resume();
    const { code, stdout, stderr } = await output;
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const report = lastJsonLine<{ pad: string }>(stdout);
    expect(report.ok && report.value.pad.length).toBe(BYTES);
  }, 180_000);

  it('names a report cut short or missing instead of throwing', () => {
    const cut = lastJsonLine(`started\n{"pad":"${'x'.repeat(100)}`);
    expect(cut).toMatchObject({ ok: false, error: expect.stringMatching(/does not parse/) });
    expect(lastJsonLine('started\n')).toMatchObject({
      ok: false,
      error: expect.stringMatching(/no JSON line/),
    });
    expect(lastJsonLine('started\n{"a":1}\n{"b":2}\n')).toEqual({ ok: true, value: { b: 2 } });
  });
});

describe('the chaos command', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'chaos-plumbing-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('ends with its JSON line naming a harness error, exit code 3, when the harness cannot start', async () => {
    // The harness root is under a plain file: no cluster folder can be made.
    const file = join(scratch, 'not-a-folder');
    writeFileSync(file, '');
    const { code, stdout, stderr } = await new Promise<{
      code: number | null;
      stdout: string;
      stderr: string;
    }>((done) => {
      execFile(
        process.execPath,
        [
          resolve('bin/run-ts.mjs'),
          resolve('functions/sandbox/chaos-cli.ts'),
          '--rounds',
          '1',
          '--seed',
          '1',
        ],
        { env: { ...process.env, MYSQL_FAILOVER_HARNESS_ROOT: join(file, 'harness') }, timeout: 120_000 },
        (error, out, err) =>
          done({ code: error ? (error.code as number | null) : 0, stdout: out, stderr: err }),
      );
    });
    expect({ code, stderr }).toEqual({ code: 3, stderr: '' });
    expect(stdout).toMatch(/^HARNESS ERROR the chaos loop could not run: .*ENOTDIR/m);
    const last = lastJsonLine<Record<string, unknown>>(stdout);
    expect(last.ok && last.value).toMatchObject({ bench: 'chaos', seed: 1, violations: 0, harnessErrors: 1 });
  }, 180_000);
});

/**
 * A TCP front of a server that accepts the first `silent` connections and never answers them (a
 * server at load average 140 whose greeting does not come within the connect timeout), then passes
 * every later connection through to the real server.
 */
async function stallingFront(target: { host: string; port: number }, silent: number) {
  const held: Socket[] = [];
  let accepted = 0;
  const server: Server = createServer((socket) => {
    accepted++;
    socket.on('error', () => {});
    if (accepted <= silent) {
      held.push(socket);
      return;
    }
    const upstream = createConnection(target);
    upstream.on('error', () => socket.destroy());
    socket.pipe(upstream).pipe(socket);
    held.push(socket, upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    accepted: () => accepted,
    close: () =>
      new Promise<void>((r) => {
        for (const s of held) s.destroy();
        server.close(() => r());
      }),
  };
}

describe("the chaos checker's own connections", () => {
  let cluster: Cluster;
  let config: Config;
  beforeAll(async () => {
    cluster = await startCluster({ servers: 2, groups: 1, name: 'checker' });
    config = parseConfig(cluster.config(), 'checker');
  }, 300_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 120_000);

  /** The configuration with db2 reached through `port` (same server id), with the given connect timeout. */
  const through = (port: number, connectMs: number): Config => ({
    ...checkerConfig(config, { connectMs, queryMs: 60_000 }),
    servers: config.servers.map((s) => (s.name === 'db2' ? { ...s, port } : s)),
  });

  it('compares checksums of a server that does not answer its first connections (retried, not a violation)', async () => {
    const db2 = cluster.servers[1]!;
    const front = await stallingFront({ host: db2.host, port: db2.port }, 2);
    try {
      const [primary, replica] = [config.servers[0]!.id, config.servers[1]!.id];
      const cmp = await checksumWithin(through(front.port, 1_000), primary, replica, {
        deadlineMs: 120_000,
        pauseMs: 200,
      });
      expect(cmp.consistent).toBe(true);
      expect(front.accepted()).toBeGreaterThanOrEqual(3);
    } finally {
      await front.close();
    }
  }, 240_000);

  it('names a server still out of reach at the deadline as the checker failing (CheckerUnreachable)', async () => {
    const front = await stallingFront({ host: '127.0.0.1', port: 1 }, Number.POSITIVE_INFINITY);
    try {
      const failure = await retryWithin(
        'checksum of db2',
        () => connectAdmin(through(front.port, 300), config.servers[1]!.id),
        {
          deadlineMs: 3_000,
          pauseMs: 100,
        },
      ).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(CheckerUnreachable);
      expect((failure as CheckerUnreachable).attempts).toBeGreaterThan(1);
      expect(String((failure as Error).message)).toMatch(
        /^checksum of db2: no connection after \d+ attempt\(s\): .*ETIMEDOUT/,
      );
    } finally {
      await front.close();
    }
  }, 60_000);

  it("counts each server's sessions by account and command into the cluster folder's connections.log", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'census-'));
    const census = new ConnectionCensus(cluster.servers, dir, 200);
    const extra = await cluster.servers[0]!.connect();
    try {
      census.start();
      let text = '';
      for (let i = 0; i < 600 && text.split('\n').length < 3; i++) {
        await sleep(100);
        text = existsSync(census.path) ? readFileSync(census.path, 'utf8') : '';
      }
      await census.stop();
      text = readFileSync(census.path, 'utf8');
      const last = text.trimEnd().split('\n').at(-1) ?? '';
      // What a round's report quotes: the file's last lines.
      expect(census.tail().split('\n').at(-1)).toBe(last);
      // db1: the census's own root session and the one opened here.
      expect(last).toMatch(/^\d\d:\d\d:\d\d\.\d{3} db1 \d+ \(.*root\/(Sleep|Query) \d+.*\) \| db2 \d+ \(/);
      expect(Number(/db1 (\d+)/.exec(last)?.[1])).toBeGreaterThanOrEqual(2);
    } finally {
      await census.stop();
      extra.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('sees two servers writable at once as a split-brain window, and one writable server as none', async () => {
    // Each server stands for a router that sends its connections there.
    const [db1, db2] = cluster.servers as [Cluster['servers'][0], Cluster['servers'][0]];
    const routers = [db1, db2].map((s) => ({ name: s.name, host: s.host, port: s.port }));
    const probe = new SplitBrainProbe(routers, config.credentials.watchdog!);
    const passes = async (n: number): Promise<void> => {
      const until = probe.samples + n;
      for (let i = 0; i < 1_200 && probe.samples < until; i++) await sleep(100);
    };
    const [before] = await db2.query<Array<{ ro: number | string }>>('SELECT @@GLOBAL.read_only AS ro');
    await db1.query('SET GLOBAL read_only = OFF');
    try {
      // db2 read-only before the first pass: a pass that saw it still writable, between two samples of
      // db1, is a real window of this test's own making (CI16, on a loaded machine).
      await db2.query('SET GLOBAL read_only = ON');
      probe.start();
      await passes(4);
      expect(probe.answers).toBeGreaterThanOrEqual(4);
      expect(probe.windows).toBe(0);
      await db2.query('SET GLOBAL read_only = OFF');
      for (let i = 0; i < 1_200 && probe.windows === 0; i++) await sleep(100);
      expect(probe.windows).toBe(1);
      expect(probe.evidence[0]).toMatch(
        /writable before and after server \d+ was: db\d->server \d+ writable at/,
      );
    } finally {
      await db2.query(`SET GLOBAL read_only = ${Number(before?.ro) ? 'ON' : 'OFF'}`);
      await probe.stop();
    }
  }, 240_000);

  it('does not retry a failure that is not about reaching the server (a wrong password is returned at once)', async () => {
    const wrong: Config = {
      ...config,
      credentials: {
        ...config.credentials,
        watchdog: { user: config.credentials.watchdog!.user, password: 'wrong' },
      },
    };
    let attempts = 0;
    const failure = await retryWithin(
      'checksum of db1',
      () => {
        attempts++;
        return connectAdmin(wrong, config.servers[0]!.id);
      },
      { deadlineMs: 60_000, pauseMs: 100 },
    ).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(DbError);
    expect(String((failure as Error).message)).toMatch(/Access denied/);
    expect(attempts).toBe(1);
  }, 60_000);
});

describe("the chaos writer's reconnects", () => {
  const account = { user: 'app_writer', password: 'pw' };

  it('backs off after failures in a row, doubling from 50 ms up to 1 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 40].map((n) => retryPauseMs(PATIENT_RETRY, n))).toEqual([
      50, 100, 200, 400, 800, 1_000, 1_000, 1_000,
    ]);
  });

  /**
   * A front that notes when each connection came, and holds it unanswered (a destination that never
   * greets) or closes it at once; `within3s()`: the connections of the 3 s from the first one on, once
   * those 3 s have passed (a loaded machine only delays connections, it never adds any).
   */
  async function timedFront(hold: boolean) {
    const at: number[] = [];
    const held: Socket[] = [];
    const server: Server = createServer((socket) => {
      at.push(Date.now());
      socket.on('error', () => {});
      if (hold) held.push(socket);
      else socket.destroy();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
      port: (server.address() as { port: number }).port,
      within3s: async (): Promise<number> => {
        await pollUntil(
          () => at.length,
          (n) => n >= 1,
          { deadlineMs: 60_000, intervalMs: 20 },
        );
        expect(at.length, 'the writer never connected').toBeGreaterThanOrEqual(1);
        await pollUntil(
          () => Date.now(),
          (now) => now >= at[0]! + 3_000,
          { deadlineMs: 10_000, intervalMs: 100 },
        );
        return at.filter((t) => t - at[0]! < 3_000).length;
      },
      close: () =>
        new Promise<void>((r) => {
          for (const socket of held) socket.destroy();
          server.close(() => r());
        }),
    };
  }

  /** The chaos run's writer, through one router at `port`. */
  const patientWriter = (port: number) =>
    new AckWriter([{ group: 'g1', host: '127.0.0.1', port }], account, 20, PATIENT_RETRY);

  it('waits for a router whose destination does not greet instead of leaving it a connection per second', async () => {
    // Every connection a client gives up on stays in MySQL Router until the destination greets.
    const front = await timedFront(true);
    const writer = patientWriter(front.port);
    try {
      writer.start();
      // The first connection waits 5 s: none other within 3 s of it.
      expect(await front.within3s()).toBe(1);
    } finally {
      await front.close();
      await writer.stop();
    }
  }, 60_000);

  it('connects again ever more slowly while every connection fails', async () => {
    // A front that closes every connection at once: each attempt fails without waiting.
    const front = await timedFront(false);
    const writer = patientWriter(front.port);
    try {
      writer.start();
      // 50+100+200+400+800+1,000 ms of pauses: at most 7 attempts in the 3 s from the first one; at
      // a pause of 50 ms it was about 40.
      const attempts = await front.within3s();
      expect(attempts).toBeGreaterThanOrEqual(1);
      expect(attempts).toBeLessThanOrEqual(7);
    } finally {
      await writer.stop();
      await front.close();
    }
  }, 60_000);
});

describe("the chaos sysbench load's reconnects", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({ servers: 2, groups: 1, name: 'sysbench' });
    await prepareSysbench(cluster.servers[0]!);
  }, 300_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 120_000);

  /**
   * A front that passes connections through to `target` until cut(); from then on it drops the ones
   * it passed and closes every new connection at once, noting when each came (a router whose every
   * destination refuses, or a server that hit max_connections).
   */
  async function cuttingFront(target: { host: string; port: number }) {
    const piped: Socket[] = [];
    const refusedAt: number[] = [];
    let cut = false;
    let bytesIn = 0;
    const server: Server = createServer((socket) => {
      socket.on('error', () => {});
      if (cut) {
        refusedAt.push(Date.now());
        socket.destroy();
        return;
      }
      const upstream = createConnection(target);
      upstream.on('error', () => socket.destroy());
      socket.on('data', (chunk: Buffer) => {
        bytesIn += chunk.length;
      });
      socket.pipe(upstream).pipe(socket);
      piped.push(socket, upstream);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
      port: (server.address() as { port: number }).port,
      bytesIn: () => bytesIn,
      cut: (): number => {
        cut = true;
        for (const s of piped) s.destroy();
        return Date.now();
      },
      refusedWithin: (from: number, ms: number) => refusedAt.filter((t) => t >= from && t - from < ms).length,
      close: () =>
        new Promise<void>((r) => {
          for (const s of piped) s.destroy();
          server.close(() => r());
        }),
    };
  }

  it('connects again once per restart pause when its router stops answering, not in a loop', async () => {
    const front = await cuttingFront(cluster.servers[0]!);
    const load = new SysbenchLoad({ host: '127.0.0.1', port: front.port }, sysbenchScriptIn(cluster.dir));
    try {
      load.start();
      // Writing: a few transactions went through the front.
      const written = await pollUntil(
        () => front.bytesIn(),
        (n) => n >= 4_000,
        { deadlineMs: 120_000, intervalMs: 50 },
      );
      expect(written, 'sysbench never wrote through the front').toBeGreaterThanOrEqual(4_000);
      const cutAt = front.cut();
      await pollUntil(
        () => Date.now(),
        (now) => now >= cutAt + 3_000,
        { deadlineMs: 10_000, intervalMs: 100 },
      );
      // sysbench's own reconnect loop (--mysql-ignore-errors with a lost connection) tries again every
      // millisecond, for as long as it fails: hundreds of connections a second through each router,
      // which filled a MySQL 9.7 server's 2,000 sessions in CI. Given up and started again after a
      // pause, it connects about once a pause (a loaded machine only delays those).
      expect(front.refusedWithin(cutAt, 3_000)).toBeLessThanOrEqual(
        Math.ceil(3_000 / SYSBENCH_RESTART_PAUSE_MS) + 1,
      );
      // And it does connect again: the load was not left dead.
      const refused = await pollUntil(
        () => front.refusedWithin(cutAt, 120_000),
        (n) => n >= 2,
        { deadlineMs: 60_000, intervalMs: 100 },
      );
      expect(refused, 'sysbench was not started again').toBeGreaterThanOrEqual(2);
      expect(load.restarts).toBeGreaterThanOrEqual(1);
    } finally {
      await load.stop();
      await front.close();
    }
  }, 300_000);
});
