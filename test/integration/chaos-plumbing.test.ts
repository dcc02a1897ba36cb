/**
 * The chaos loop's own plumbing. A child process's report reaches its parent whole: the loop once read
 * a 219 KB report of its child watchdog cut short (the child called process.exit right after writing
 * to the pipe) and died on JSON.parse. A harness that fails is reported as such, never as a crash.
 * Real processes and real pipes.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { lastJsonLine, readWhole, waitForOutput } from '../../functions/sandbox/child-output.js';

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
