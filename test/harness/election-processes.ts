/**
 * Starts election participants as separate processes. Two ways, same script:
 * - `tsx`: node bin/run-ts.mjs test/harness/election-participant.ts (what an operator would run);
 * - `bundle`: the same file bundled once by esbuild and run by plain node. tsx compiles on every start
 *   (about a CPU-second each); 50 of them on 2 cores would spend most of the test starting up.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { ParticipantConfig } from './election-participant.js';

const ROOT = resolve(import.meta.dirname, '../..');
const SCRIPT = join(ROOT, 'test/harness/election-participant.ts');

export type SpawnMode = 'tsx' | 'bundle';

export interface ParticipantBundle {
  file: string;
  dispose(): void;
}

/** Bundles the participant script (mysql2 included) into one ESM file under a temp folder. */
export async function buildParticipantBundle(): Promise<ParticipantBundle> {
  const { build } = await import('esbuild');
  const dir = mkdtempSync(join(tmpdir(), 'election-bundle-'));
  const file = join(dir, 'election-participant.mjs');
  await build({
    entryPoints: [SCRIPT],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    outfile: file,
    logLevel: 'error',
    // mysql2 is CommonJS and requires node builtins at run time.
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
  });
  return { file, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface ParticipantProcess {
  config: ParticipantConfig;
  child: ChildProcess;
  events: Record<string, unknown>[];
  /** Resolves with the first event of that kind (or rejects when the process ends without it). */
  waitFor(
    event: string,
    predicate?: (e: Record<string, unknown>) => boolean,
  ): Promise<Record<string, unknown>>;
  /** Sends the start line (participants started with waitGo). */
  go(): void;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  report(): Record<string, unknown> | undefined;
  stderr(): string;
}

export function spawnParticipant(
  config: ParticipantConfig,
  how: { mode: 'tsx' } | { mode: 'bundle'; bundle: ParticipantBundle },
  env: Record<string, string> = {},
): ParticipantProcess {
  const args =
    how.mode === 'tsx'
      ? [join(ROOT, 'bin/run-ts.mjs'), SCRIPT, JSON.stringify(config)]
      : [how.bundle.file, JSON.stringify(config)];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const events: Record<string, unknown>[] = [];
  const waiters: {
    event: string;
    predicate?: (e: Record<string, unknown>) => boolean;
    resolve: (e: Record<string, unknown>) => void;
  }[] = [];
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    events.push(event);
    for (const w of [...waiters]) {
      if (w.event === event.event && (!w.predicate || w.predicate(event))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(event);
      }
    }
  });
  // On 'close', not 'exit': by then every line the participant wrote has been read.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.once('close', (code, signal) => res({ code, signal })),
  );
  return {
    config,
    child,
    events,
    exited,
    waitFor(event, predicate) {
      const found = events.find((e) => e.event === event && (!predicate || predicate(e)));
      if (found) return Promise.resolve(found);
      return new Promise((res, rej) => {
        waiters.push({ event, predicate, resolve: res });
        void exited.then(() => {
          const late = events.find((e) => e.event === event && (!predicate || predicate(e)));
          if (late) res(late);
          else {
            const errors = events.filter((e) => e.event === 'error').map((e) => String(e.message));
            rej(
              new Error(
                `${config.participant} exited without "${event}": ${errors.join('; ')} ${stderr.slice(-500)}`,
              ),
            );
          }
        });
      });
    },
    go() {
      child.stdin?.write('go\n');
    },
    report: () => events.find((e) => e.event === 'report'),
    stderr: () => stderr,
  };
}

/** Kills what is still running (by pid, our own children only) and waits for the exits. */
export async function stopParticipants(list: readonly ParticipantProcess[]): Promise<void> {
  for (const p of list) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await Promise.all(list.map((p) => p.exited));
}
