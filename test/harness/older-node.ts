/**
 * The machine's own node when it is older than the one running the tests: on a machine with Node 20,
 * scripts/with-node.sh runs the tests on the Node 22 of .node/ and the machine's node stays further
 * down PATH. Undefined on a machine whose node is 22 or later (then there is nothing older to run on).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export function majorOf(version: string): number {
  return Number(version.replace(/^v/, '').split('.')[0]);
}

export function olderNode(): { path: string; version: string } | undefined {
  const current = realpathSync(process.execPath);
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const path = join(dir, 'node');
    if (!dir || !existsSync(path) || realpathSync(path) === current) continue;
    const version = spawnSync(path, ['--version'], { encoding: 'utf8' }).stdout?.trim() ?? '';
    if (version && majorOf(version) < majorOf(process.version)) return { path, version };
  }
  return undefined;
}

/** PATH as a user's shell has it: without the private node the npm scripts put first (nor node_modules/.bin). */
export function machinePath(root: string): string {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => dir !== join(root, '.node', 'bin') && !dir.endsWith('node_modules/.bin'))
    .join(delimiter);
}
