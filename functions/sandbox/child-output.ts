/**
 * Whole output across a process boundary, both ends.
 *
 * A child: a write to a pipe is asynchronous in Node once the pipe's buffer is full (about 210 KB
 * here), so `process.exit()` right after writing a report drops the part not yet handed over — the
 * chaos loop once read a 219 KB report cut short. exitAfterOutput() exits only once stdout and stderr
 * have drained.
 *
 * A parent: the 'exit' event can come before the last chunk of a child's output has been read (a slow
 * or busy reader); readWhole() resolves on 'close', when the child has exited and its pipes are closed.
 */
import type { ChildProcess } from 'node:child_process';

/** Ends the process with `code` once everything written to stdout and stderr has been handed over. */
export function exitAfterOutput(code: number): void {
  process.exitCode = code;
  let pending = 2;
  const done = (): void => {
    pending -= 1;
    // An exit is still needed: an open handle (a pool, a timer) would keep the process alive.
    if (pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}

export interface ChildOutput {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Everything a spawned child writes to its piped stdout and stderr, once it has exited and both pipes
 * are closed. Call it right after spawn(), before any output can be missed.
 */
export function readWhole(child: ChildProcess): Promise<ChildOutput> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Resolves when `text` appears on the child's stdout (true), or when the child exits or `ms` pass (false). */
export function waitForOutput(child: ChildProcess, text: string, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    let seen = '';
    const finish = (value: boolean): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      resolve(value);
    };
    const onData = (chunk: Buffer | string): void => {
      seen += chunk.toString();
      if (seen.includes(text)) finish(true);
    };
    const onExit = (): void => finish(false);
    const timer = setTimeout(() => finish(false), ms);
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

/**
 * The JSON object a child printed as its last line starting with `{`: the value, or why there is none
 * (no such line, or a line that does not parse — a report cut short).
 */
export function lastJsonLine<T>(
  stdout: string,
): { ok: true; value: T } | { ok: false; missing: boolean; error: string } {
  const line = stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .at(-1);
  if (line === undefined)
    return { ok: false, missing: true, error: `no JSON line in ${stdout.length} bytes of output` };
  try {
    return { ok: true, value: JSON.parse(line) as T };
  } catch (error) {
    return {
      ok: false,
      missing: false,
      error: `a JSON line of ${line.length} bytes does not parse (${(error as Error).message}); it ends with ${JSON.stringify(line.slice(-80))}`,
    };
  }
}
