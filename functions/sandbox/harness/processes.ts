/**
 * Small process helpers shared by the server and router handles: liveness checks that survive pid
 * reuse, waiting for an exit, and a SIGTERM-then-SIGKILL stop.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** True if a process with this pid exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM means it exists but belongs to someone else: still alive.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  const state = procState(pid);
  return state !== 'Z' && state !== 'X';
}

/** The process state letter from /proc/<pid>/stat (R, S, T, Z, ...), or null if gone. */
export function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may contain spaces; the state follows the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) || null;
  } catch {
    return null;
  }
}

/** The process start time (clock ticks since boot), used with the pid to recognise the same process. */
export function procStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Field 22 of stat; the remainder starts at field 3.
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

/** The command line of a process, arguments joined by spaces, or null if gone. */
export function procCmdline(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return null;
  }
}

export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Waits until the process is gone (or a zombie); true if it went within the time. */
export async function waitForExit(pid: number, timeoutMs: number, exited?: () => boolean): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((exited?.() ?? false) || !isAlive(pid)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(25);
  }
}

/**
 * Stops a process: SIGCONT (a paused process cannot handle SIGTERM), SIGTERM, then SIGKILL after the
 * grace period. Resolves once it is gone.
 */
export async function terminate(pid: number, graceMs: number, exited?: () => boolean): Promise<void> {
  if (!isAlive(pid)) return;
  signal(pid, 'SIGCONT');
  signal(pid, 'SIGTERM');
  if (await waitForExit(pid, graceMs, exited)) return;
  signal(pid, 'SIGKILL');
  await waitForExit(pid, 10_000, exited);
}

/** Kills without grace and waits until the process is gone. */
export async function killHard(pid: number, exited?: () => boolean): Promise<void> {
  signal(pid, 'SIGKILL');
  await waitForExit(pid, 10_000, exited);
}
