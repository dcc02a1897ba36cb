/**
 * The deployed artifact: produces `.serverless/` with `npm run package` (osls + serverless-esbuild,
 * offline) when it is missing or older than its inputs, reads the generated template, and unzips the
 * bundle exactly as Lambda receives it. Used by the production-shaped tests and the sandbox's
 * `--production` modes. Several test files may need it at once: a lock directory (mkdir is atomic)
 * makes the second one wait for the first instead of packaging into the same folder concurrently.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { inflateRawSync } from 'node:zlib';

export const ROOT = resolve(import.meta.dirname, '..', '..', '..');
export const TEMPLATE = join(ROOT, '.serverless', 'cloudformation-template-update-stack.json');
export const ARTIFACT = join(ROOT, '.serverless', 'mysql-failover.zip');
// Under node_modules/.cache: ignored by git and the linter, shared by every test process of this clone.
const LOCK = join(ROOT, 'node_modules', '.cache', 'mysql-failover-package.lock');

/** Files whose change changes the template or the artifact. */
function inputs(): string[] {
  const files = [
    'serverless.yml',
    'deploy/sample.yml',
    'package.json',
    'package-lock.json',
    'scripts/esbuild-options.mjs',
  ];
  const walk = (dir: string): void => {
    const abs = join(ROOT, dir);
    if (!existsSync(abs)) return;
    for (const entry of readdirSync(abs, { withFileTypes: true })) {
      const rel = join(dir, entry.name);
      if (entry.isDirectory()) walk(rel);
      else files.push(rel);
    }
  };
  walk('infra');
  walk('functions');
  return files.map((f) => join(ROOT, f)).filter((f) => existsSync(f));
}

function isFresh(): boolean {
  if (!existsSync(TEMPLATE) || !existsSync(ARTIFACT)) return false;
  const built = Math.min(statSync(TEMPLATE).mtimeMs, statSync(ARTIFACT).mtimeMs);
  return inputs().every((file) => statSync(file).mtimeMs <= built);
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function acquireLock(): void {
  const deadline = Date.now() + 170_000;
  for (;;) {
    try {
      mkdirSync(dirname(LOCK), { recursive: true });
      mkdirSync(LOCK);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // A lock left by a killed run would block forever: treat one older than 3 minutes as stale.
      if (Date.now() - statSync(LOCK).mtimeMs > 180_000) rmSync(LOCK, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${LOCK}`);
      sleep(250);
    }
  }
}

/** Runs `run` while no other process of this clone packages (osls and esbuild share work folders). */
export function withPackageLock<T>(run: () => T): T {
  acquireLock();
  try {
    return run();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

/** Runs `npm run package` unless the packaged output is newer than every input. */
export function ensurePackaged(): void {
  if (isFresh()) return;
  withPackageLock(() => {
    if (isFresh()) return; // another test file packaged while we waited
    const result = spawnSync('npm', ['run', '--silent', 'package'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, npm_config_update_notifier: 'false' },
      timeout: 150_000,
    });
    if (result.status !== 0) {
      throw new Error(`npm run package failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
    }
  });
}

export interface CfnResource {
  Type: string;
  Properties: Record<string, unknown>;
  DependsOn?: string[] | string;
  DeletionPolicy?: string;
}

export interface Template {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, unknown>;
}

export function readTemplate(): Template {
  return JSON.parse(readFileSync(TEMPLATE, 'utf8')) as Template;
}

/**
 * Extracts a (non-zip64) zip archive such as the one osls builds, with node:zlib only: no `unzip`
 * binary needed on the machine. Returns the extracted paths, relative to `dest`.
 */
export function extractZip(zipPath: string, dest: string): string[] {
  const zip = readFileSync(zipPath);
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error(`${zipPath}: no end of central directory`);
  const entries = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  const out: string[] = [];
  for (let i = 0; i < entries; i++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error(`${zipPath}: bad central directory entry ${i}`);
    const method = zip.readUInt16LE(at + 10);
    const compressedSize = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const localHeader = zip.readUInt32LE(at + 42);
    const name = zip.toString('utf8', at + 46, at + 46 + nameLength);
    at += 46 + nameLength + extraLength + commentLength;
    const target = resolve(dest, name);
    if (!target.startsWith(resolve(dest) + sep)) throw new Error(`${zipPath}: entry ${name} leaves ${dest}`);
    if (name.endsWith('/')) {
      mkdirSync(target, { recursive: true });
      continue;
    }
    const dataStart =
      localHeader + 30 + zip.readUInt16LE(localHeader + 26) + zip.readUInt16LE(localHeader + 28);
    const data = zip.subarray(dataStart, dataStart + compressedSize);
    if (method !== 0 && method !== 8)
      throw new Error(`${zipPath}: ${name} uses compression method ${method}`);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, method === 8 ? inflateRawSync(data) : data);
    out.push(name);
  }
  return out;
}
