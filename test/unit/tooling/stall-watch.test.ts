/**
 * A long chain of harness waits (a drill's beforeAll) that stalls fails with what it was waiting for,
 * the steps it passed and the tail of every server's and router's log, before the test runner's hook
 * timeout (whose message says only "Hook timed out"). Seen: the MySQL drill's beforeAll timed out once
 * at 240 s on an idle machine with nothing to say why.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ProcessError } from '../../../functions/errors.js';
import { fileTail, isStall, logTails, StallWatch } from '../../../functions/sandbox/harness/diagnostics.js';

const scratch = mkdtempSync(join(tmpdir(), 'mf-stall-watch-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A cluster folder as the harness leaves it: server and router folders with logs, datadirs with others. */
function clusterFolder(): string {
  const dir = mkdtempSync(join(scratch, 'drill-'));
  mkdirSync(join(dir, 'db1', 'data'), { recursive: true });
  mkdirSync(join(dir, 'g1r1'), { recursive: true });
  writeFileSync(
    join(dir, 'db1', 'error.log'),
    `${'[Note] early line\n'.repeat(500)}[ERROR] [MY-010262] Can't start server: Bind on TCP/IP port: Address already in use\n`,
  );
  writeFileSync(join(dir, 'db1', 'data', 'undo.log'), 'not a log of ours');
  writeFileSync(
    join(dir, 'g1r1', 'mysqlrouter.log'),
    'routing INFO [7f] Start accepting connections for routing\n',
  );
  writeFileSync(join(dir, 'g1r1', 'stdout.log'), '');
  return dir;
}

describe('a stalled chain of harness waits', () => {
  it('fails before its limit with what it waited for, the steps before it and the tail of every log', async () => {
    const dir = clusterFolder();
    const watch = new StallWatch('the drill [mysql]', 300);
    watch.folder(dir);
    const error = await watch
      .within(200, async () => {
        watch.note('startCluster drill: up in 900 ms');
        watch.note('drill: waiting for the writers to stop');
        await new Promise(() => {}); // a wait that never ends
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProcessError);
    const message = (error as Error).message;
    expect(message).toMatch(
      /^the drill \[mysql\] did not finish within 0 s; stalled at: drill: waiting for the writers to stop \(noted [\d.]+ s ago\)/,
    );
    expect(message).toContain('startCluster drill: up in 900 ms');
    expect(message).toContain(`=== logs in ${dir}`);
    expect(message).toMatch(
      /--- db1\/error\.log \(last \d+ of \d+ bytes\)\n(\[Note\] early line\n)+\[ERROR\] \[MY-010262\] Can't start server/,
    );
    expect(message).toContain('--- g1r1/mysqlrouter.log');
    expect(message).toContain('Start accepting connections for routing');
    expect(message).toContain('--- g1r1/stdout.log: empty');
    // Datadirs are not searched: InnoDB's own files are not logs.
    expect(message).not.toContain('undo.log');
    expect((error as ProcessError).details).toMatchObject({
      waiting: 'drill: waiting for the writers to stop',
    });
  });

  it('returns what the work returns when it ends in time', async () => {
    const watch = new StallWatch('a quick start');
    await expect(watch.within(5_000, async () => 42)).resolves.toBe(42);
  });

  it('passes on the work’s own error, not a stall', async () => {
    const watch = new StallWatch('a failing start');
    await expect(
      watch.within(5_000, async () => {
        throw new Error('db1: mysqld exited during startup');
      }),
    ).rejects.toThrow('db1: mysqld exited during startup');
  });
});

describe('log tails', () => {
  it('keep whole lines and say how much of the file they show', () => {
    const dir = clusterFolder();
    const tail = fileTail(join(dir, 'db1', 'error.log'), 100);
    expect(tail.tail.startsWith('[')).toBe(true);
    expect(tail.tail).toContain('Address already in use');
    expect(tail.size).toBeGreaterThan(100);
    expect(logTails(dir).map((t) => t.file)).toEqual([
      'db1/error.log',
      'g1r1/mysqlrouter.log',
      'g1r1/stdout.log',
    ]);
  });

  it('fails a step that never ends at the step’s own limit, naming it and the steps it passed', async () => {
    const watch = new StallWatch('round 2 (restart-mid-reseed)');
    const startedAt = Date.now();
    const error = await watch
      .within(60_000, async () => {
        await watch.step('the current primary (status runs)', 5_000, async () => 'db1');
        watch.note('+3.0 s invocation 1 (alarm, 9.0 s): g1: FailoverNeeded plan operation failover');
        await watch.step('the restart in the background', 150, () => new Promise(() => {}));
      })
      .catch((e: unknown) => e);
    // The step's limit, not the round's.
    expect(Date.now() - startedAt).toBeLessThan(30_000);
    expect(isStall(error)).toBe(true);
    const message = (error as Error).message;
    expect(message).toMatch(
      /^round 2 \(restart-mid-reseed\) did not finish within 0 s; stalled at: waiting for the restart in the background \(limit 0 s\)/,
    );
    expect(message).toMatch(/the current primary \(status runs\): done in [\d.]+ s/);
    expect(message).toContain('invocation 1 (alarm, 9.0 s): g1: FailoverNeeded');
    expect(watch.stalledAt).toBe('waiting for the restart in the background (limit 0 s)');
  });

  it('names the step under way when the whole chain runs out of time, even after later notes', async () => {
    const watch = new StallWatch('round 1 (kill-operation-master)');
    const error = await watch
      .within(150, async () => {
        await watch.step('watchdog invocation 1 (schedule) of every group', 60_000, async () => {
          watch.note('g1: its report is in');
          await new Promise(() => {});
        });
      })
      .catch((e: unknown) => e);
    expect(isStall(error)).toBe(true);
    expect(watch.stalledAt).toBe('waiting for watchdog invocation 1 (schedule) of every group (limit 60 s)');
    expect((error as Error).message).toContain('g1: its report is in');
  });

  it('passes on a step’s own error, noted as failed, and it is no stall', async () => {
    const watch = new StallWatch('round 3 (kill-primary)');
    const error = await watch
      .step('the start of db1', 5_000, async () => {
        throw new ProcessError('db1: mysqld exited during startup');
      })
      .catch((e: unknown) => e);
    expect((error as Error).message).toBe('db1: mysqld exited during startup');
    expect(isStall(error)).toBe(false);
    expect(watch.stalledAt).toBeNull();
    expect(watch.lines().at(-1)).toMatch(/the start of db1: failed after [\d.]+ s$/);
  });
});
