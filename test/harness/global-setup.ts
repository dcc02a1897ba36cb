/**
 * Vitest global setup: fail early with a clear message when the server binaries are missing, sweep
 * leftovers of DEAD earlier runs (never those of a live run: other test runs may share this machine),
 * and at teardown report (and kill) any harness process this run leaked.
 */

import { readFileSync } from 'node:fs';
import { findBinary } from '../../functions/sandbox/harness/mariadb.js';
import { procCmdline } from '../../functions/sandbox/harness/processes.js';
import {
  findLeaks,
  harnessRoot,
  killAllUnder,
  type OwnerTag,
  reapDeadRuns,
} from '../../functions/sandbox/harness/reaper.js';

const REQUIRED = ['mariadbd', 'mariadb-install-db', 'mariadb', 'haproxy'];

/** True if `pid` is this process or one of its descendants (our test workers). */
function isDescendant(pid: number, ancestor: number): boolean {
  let current = pid;
  for (let depth = 0; depth < 32 && current > 1; depth++) {
    if (current === ancestor) return true;
    try {
      const stat = readFileSync(`/proc/${current}/stat`, 'utf8');
      current = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      return false;
    }
  }
  return false;
}

export default function setup(): () => void {
  const missing = REQUIRED.filter((name) => findBinary(name) === null);
  if (missing.length > 0) {
    throw new Error(
      `integration tests need ${missing.join(', ')} (not found in PATH or /usr/sbin). ` +
        'Run `npm run setup` (as root on Debian) to install mariadb-server, mariadb-client and haproxy.',
    );
  }
  const reaped = reapDeadRuns();
  if (reaped.removedDirs.length > 0) {
    console.warn(
      `harness: removed ${reaped.removedDirs.length} folder(s) of dead earlier runs, killed ${reaped.killedPids.length} process(es)`,
    );
  }
  const runner = process.pid;
  return () => {
    const ours = (owner: OwnerTag) =>
      owner.pid === runner || isDescendant(owner.pid, runner) || owner.ppid === runner;
    const leaks = findLeaks(harnessRoot(), ours);
    if (leaks.length === 0) return;
    for (const leak of leaks) {
      console.error(`harness LEAK in ${leak.dir} (owner pid ${leak.ownerPid ?? '?'}):`);
      for (const [i, pid] of leak.pids.entries())
        console.error(`  ${pid} ${leak.commands[i] ?? procCmdline(pid) ?? ''}`);
      killAllUnder(leak.dir);
    }
    throw new Error(
      `harness: ${leaks.length} cluster folder(s) still had running processes after the tests (killed)`,
    );
  };
}
