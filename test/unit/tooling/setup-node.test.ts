/**
 * scripts/setup-node.sh, run for real in a scratch copy of the scripts: Node 22 from the cached package
 * tarball without fetching it again, its digest checked, nothing done where the machine's node is new
 * enough, nothing done the second time.
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { machinePath, olderNode } from '../../harness/older-node.js';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const older = olderNode();
const cachedTarball = existsSync(join(ROOT, '.node'))
  ? readdirSync(join(ROOT, '.node')).find((f) => /^node-linux-\w+-[\d.]+\.tgz$/.test(f))
  : undefined;
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mf-setup-node-'));
  mkdirSync(join(dir, 'scripts'));
  copyFileSync(join(ROOT, 'scripts', 'setup-node.sh'), join(dir, 'scripts', 'setup-node.sh'));
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

function setupNode(path: string) {
  const child = spawnSync('bash', ['scripts/setup-node.sh'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 120_000,
    // An unreachable registry: whatever the script would fetch fails instead of leaving this machine.
    env: {
      ...process.env,
      PATH: path,
      npm_config_registry: 'http://127.0.0.1:9/',
      npm_config_offline: 'true',
    },
  });
  return { status: child.status, stdout: child.stdout, stderr: child.stderr };
}

describe('setup-node.sh', () => {
  it('does nothing where the first node on PATH is already 22 or later', () => {
    const result = setupNode(`${resolve(process.execPath, '..')}:${machinePath(ROOT)}`);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toBe('');
    expect(existsSync(join(dir, '.node'))).toBe(false);
  });

  describe.skipIf(!older || !cachedTarball)(
    `on a machine whose node is older (${older?.version ?? 'none'})`,
    () => {
      it('unpacks Node 22 from the tarball kept in .node/ without fetching it, and does nothing the second time', () => {
        mkdirSync(join(dir, '.node'));
        copyFileSync(join(ROOT, '.node', cachedTarball!), join(dir, '.node', cachedTarball!));
        const first = setupNode(machinePath(ROOT));
        expect(first.status, first.stderr).toBe(0);
        expect(first.stdout).not.toMatch(/fetching/);
        const node = spawnSync(join(dir, '.node', 'bin', 'node'), ['--version'], { encoding: 'utf8' });
        expect(node.stdout.trim()).toMatch(/^v22\./);
        expect(readdirSync(join(dir, '.node', 'bin'))).toEqual(['node']);

        const second = setupNode(machinePath(ROOT));
        expect(second.status, second.stderr).toBe(0);
        expect(second.stdout + second.stderr).toBe('');
      });

      it('refuses and removes a kept tarball whose SHA-512 is not the pinned one', () => {
        mkdirSync(join(dir, '.node'));
        writeFileSync(join(dir, '.node', cachedTarball!), 'not the node package');
        const result = setupNode(machinePath(ROOT));
        expect(result.status).toBe(1);
        expect(result.stderr).toMatch(/does not have the expected SHA-512/);
        expect(existsSync(join(dir, '.node', cachedTarball!))).toBe(false);
        expect(existsSync(join(dir, '.node', 'bin', 'node'))).toBe(false);
      });
    },
  );
});
