// The command line tools run on Node 22, the version the function runs on in Lambda. Started on an
// older node (`npx repl-watchdog ...` on a machine with Node 20), a tool starts itself again through
// scripts/with-node.sh, which runs it on the machine's Node 22+ or on the one `npm run setup` put in
// .node/, with that node first on PATH for everything it starts in turn.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Node 22.12 or later (what vitest 5 needs; the same rule as scripts/with-node.sh). */
function newEnough() {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  return major > 22 || (major === 22 && minor >= 12);
}

/**
 * Returns at once on Node 22.12 or later. On an older node it runs the same command (same node options,
 * script and arguments) under Node 22 and ends this process with the child's exit status; it returns
 * only when it cannot (no scripts/with-node.sh next to this file), and the tool then runs where it is.
 */
export async function ensureNode22() {
  if (newEnough()) return;
  const wrapper = fileURLToPath(new URL('../scripts/with-node.sh', import.meta.url));
  if (!existsSync(wrapper)) return;
  const child = spawn('bash', [wrapper, 'node', ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
  });
  // Like npm does for its scripts: a signal sent to this process reaches the tool as well.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  const [code, signal] = await new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (exitCode, exitSignal) => resolve([exitCode, exitSignal]));
  });
  if (signal) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  }
  process.exit(code ?? 1);
}
