/**
 * No leaked mariadbd or haproxy, ever. Every cluster lives in its own folder under one common root,
 * tagged with the pid (and start time) of the node process that owns it. Every process the harness
 * starts carries that folder in its command line, so "the processes of a cluster" is simply "the
 * processes whose command line names its folder" — found in /proc, with no pid list to keep up to date
 * when servers and routers restart.
 *
 * Three layers, each enough on its own for the failure it covers:
 * - `cluster.stop()` (normal path);
 * - `process.on('exit' | 'SIGINT' | 'SIGTERM' | 'SIGHUP')` in the owner (test failure, Ctrl-C);
 * - a detached watcher shell per cluster that outlives the owner and kills the cluster's processes
 *   when the owner disappears (SIGKILL of the test runner, a crash the exit hooks never see).
 * `reapDeadRuns()` sweeps folders whose owner is gone, for whatever slipped through all three.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAlive, procCmdline, procStartTime, signal } from './processes.js';

/** The common root of every harness folder on this machine (per TMPDIR). */
export function harnessRoot(): string {
  return process.env.MYSQL_FAILOVER_HARNESS_ROOT ?? join(tmpdir(), 'mysql-failover-harness');
}

export interface OwnerTag {
  pid: number;
  startTime: string | null;
  ppid: number;
  createdAt: string;
}

const OWNER_FILE = 'owner.json';

/** Creates a fresh cluster folder tagged with this process as owner. Short path: unix sockets live in it. */
export function createClusterDir(name: string, parent = harnessRoot()): string {
  const root = parent;
  mkdirSync(root, { recursive: true });
  const safe = name.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 24);
  const dir = join(root, `${safe}-${process.pid}-${randomBytes(3).toString('hex')}`);
  mkdirSync(dir, { recursive: true });
  const tag: OwnerTag = {
    pid: process.pid,
    startTime: procStartTime(process.pid),
    ppid: process.ppid,
    createdAt: new Date().toISOString(),
  };
  writeFileSync(join(dir, OWNER_FILE), `${JSON.stringify(tag)}\n`);
  return dir;
}

export function readOwner(dir: string): OwnerTag | null {
  try {
    return JSON.parse(readFileSync(join(dir, OWNER_FILE), 'utf8')) as OwnerTag;
  } catch {
    return null;
  }
}

/** True if the process that created the folder is still the same live process (pid reuse aware). */
export function ownerAlive(owner: OwnerTag): boolean {
  if (!isAlive(owner.pid)) return false;
  return owner.startTime === null || procStartTime(owner.pid) === owner.startTime;
}

/** Pids of every process whose command line names this folder (trailing slash: no prefix matches). */
export function processesUnder(dir: string, exclude: readonly number[] = []): number[] {
  const needle = dir.endsWith('/') ? dir : `${dir}/`;
  const found: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return found;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid || exclude.includes(pid)) continue;
    const cmdline = procCmdline(pid);
    if (cmdline?.includes(needle)) found.push(pid);
  }
  return found;
}

/** SIGKILLs (after SIGCONT, so paused ones die too) every process of the folder. Synchronous. */
export function killAllUnder(dir: string, exclude: readonly number[] = []): number[] {
  const pids = processesUnder(dir, exclude);
  for (const pid of pids) {
    signal(pid, 'SIGCONT');
    signal(pid, 'SIGKILL');
  }
  return pids;
}

// The watcher gets its parameters through the environment, never argv: its own command line must not
// name the folder, or it would find and kill itself before the servers.
const WATCHER_SCRIPT = `
alive() {
  local stat rest
  read -r stat < /proc/$OWNER_PID/stat 2>/dev/null || return 1
  rest=\${stat##*) }
  set -- $rest
  [ "$1" != Z ] || return 1
  [ -z "$OWNER_START" ] || [ "\${20}" = "$OWNER_START" ]
}
# read -t on a pipe nobody writes to: a 0.25 s pause without forking sleep four times a second.
exec 9<> <(:)
while alive && [ -d "$CLUSTER_DIR" ]; do read -r -t 0.25 -u 9 _; done
[ -d "$CLUSTER_DIR" ] || exit 0
# Bash builtins only (no tr/grep per process): this runs on busy machines with hundreds of processes.
sweep() {
  local p pid args found=1
  for p in /proc/[0-9]*; do
    pid=\${p#/proc/}
    [ "$pid" = "$$" ] && continue
    mapfile -d '' args < "$p/cmdline" 2>/dev/null || continue
    if [[ " \${args[*]} " == *"$CLUSTER_DIR/"* ]]; then
      kill -CONT "$pid" 2>/dev/null
      kill -9 "$pid" 2>/dev/null
      found=0
    fi
  done
  return $found
}
for round in 1 2 3 4 5; do
  sweep || break
  read -r -t 0.1 -u 9 _
done
rm -rf "$CLUSTER_DIR"
`;

/** Starts the detached watcher for a cluster folder; returns its pid. */
export function spawnWatcher(dir: string): number {
  const child = spawn('bash', ['-c', WATCHER_SCRIPT], {
    detached: true,
    stdio: 'ignore',
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      OWNER_PID: String(process.pid),
      OWNER_START: procStartTime(process.pid) ?? '',
      CLUSTER_DIR: dir,
    },
  });
  child.unref();
  if (child.pid === undefined) throw new Error('could not start the harness watcher (bash)');
  return child.pid;
}

// ---------------------------------------------------------------------------------------------------
// In-process hooks: synchronous cleanup of every live cluster when this process exits or is signalled.

interface LiveCluster {
  dir: string;
  watcherPid: number;
}

const live = new Map<string, LiveCluster>();
let hooksInstalled = false;

function cleanupAllSync(): void {
  for (const cluster of live.values()) {
    killAllUnder(cluster.dir, [cluster.watcherPid]);
    try {
      rmSync(cluster.dir, { recursive: true, force: true });
    } catch {
      // The watcher removes it too once we are gone.
    }
    signal(cluster.watcherPid, 'SIGKILL');
  }
  live.clear();
}

type HandledSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP';

function onSignal(sig: HandledSignal): void {
  cleanupAllSync();
  // We only replaced the default action if nobody else listens: then re-raise so the process still
  // dies of the signal with the usual exit status.
  if (process.listenerCount(sig) <= 1) {
    process.removeListener(sig, signalHandlers[sig]);
    process.kill(process.pid, sig);
  }
}

const signalHandlers: Record<HandledSignal, () => void> = {
  SIGINT: () => onSignal('SIGINT'),
  SIGTERM: () => onSignal('SIGTERM'),
  SIGHUP: () => onSignal('SIGHUP'),
};

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', cleanupAllSync);
  for (const [sig, handler] of Object.entries(signalHandlers)) process.on(sig, handler);
}

/** Registers a live cluster for the exit hooks. */
export function registerLive(dir: string, watcherPid: number): void {
  installHooks();
  live.set(dir, { dir, watcherPid });
}

export function unregisterLive(dir: string): void {
  const entry = live.get(dir);
  live.delete(dir);
  if (entry) signal(entry.watcherPid, 'SIGKILL');
}

// ---------------------------------------------------------------------------------------------------
// Sweeping leftovers of dead runs (global setup, sandbox start).

export interface ReapReport {
  /** Folders removed because their owner was gone. */
  removedDirs: string[];
  /** Processes killed in those folders. */
  killedPids: number[];
}

/**
 * Removes the folders (and kills the processes) of runs whose owner process is dead. Folders of live
 * owners — other test runs on this machine — are never touched. Templates are a shared cache and kept,
 * except half-built ones whose builder died.
 */
export function reapDeadRuns(root = harnessRoot()): ReapReport {
  const report: ReapReport = { removedDirs: [], killedPids: [] };
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return report;
  }
  for (const entry of entries) {
    const dir = join(root, entry);
    if (entry === 'templates') {
      reapTemplateLeftovers(dir, report);
      continue;
    }
    const owner = readOwner(dir);
    if (owner && ownerAlive(owner)) continue;
    if (!owner && recentlyCreated(dir)) continue; // a folder being created right now
    report.killedPids.push(...killAllUnder(dir));
    rmSync(dir, { recursive: true, force: true });
    report.removedDirs.push(dir);
  }
  return report;
}

/** A folder without an owner tag may be one that is being created this instant: leave young ones alone. */
function recentlyCreated(dir: string): boolean {
  try {
    return Date.now() - statSync(dir).mtimeMs < 10_000;
  } catch {
    return false;
  }
}

function reapTemplateLeftovers(templates: string, report: ReapReport): void {
  let entries: string[];
  try {
    entries = readdirSync(templates);
  } catch {
    return;
  }
  for (const entry of entries) {
    const match = /^\.tmp-(\d+)-/.exec(entry);
    if (!match) continue;
    if (isAlive(Number(match[1]))) continue;
    const dir = join(templates, entry);
    report.killedPids.push(...killAllUnder(dir));
    rmSync(dir, { recursive: true, force: true });
    report.removedDirs.push(dir);
  }
}

export interface LeakReport {
  dir: string;
  ownerPid: number | null;
  pids: number[];
  commands: string[];
}

/**
 * Processes still running in harness folders whose owner is dead or is one of `ownerPids`
 * (e.g. the test workers of this run). Other live runs are not reported.
 */
export function findLeaks(
  root = harnessRoot(),
  isOurs: (owner: OwnerTag) => boolean = () => false,
): LeakReport[] {
  const leaks: LeakReport[] = [];
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return leaks;
  }
  for (const entry of entries) {
    if (entry === 'templates') continue;
    const dir = join(root, entry);
    const owner = readOwner(dir);
    if (owner && ownerAlive(owner) && !isOurs(owner)) continue;
    const pids = processesUnder(dir);
    if (pids.length === 0) continue;
    leaks.push({
      dir,
      ownerPid: owner?.pid ?? null,
      pids,
      commands: pids.map((pid) => procCmdline(pid) ?? '?'),
    });
  }
  return leaks;
}
