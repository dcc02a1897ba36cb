/**
 * `npm run package` builds offline: run in a fresh network namespace (no interface up, not even
 * loopback; no DNS), it still produces the template and the artifact from deploy/sample.yml. Every
 * bucket of both templates it writes (the stack's first creation and its updates) blocks public
 * access and is encrypted.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, type Template } from './packaged.js';

/** unshare(1) with a user namespace: a network namespace without being root. */
const isolated = spawnSync('unshare', ['-rn', 'true']).status === 0;
const copy = mkdtempSync(join(tmpdir(), 'package-offline-'));
afterAll(() => rmSync(copy, { recursive: true, force: true }));

/**
 * The clone's tracked files in a folder of their own (node_modules and the private Node linked): osls
 * empties `.serverless/` whatever `--package` says, and other test files read this clone's.
 */
function cloneTree(): void {
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0');
  for (const file of files.filter(Boolean)) {
    if (!existsSync(join(ROOT, file))) continue;
    mkdirSync(dirname(join(copy, file)), { recursive: true });
    copyFileSync(join(ROOT, file), join(copy, file));
  }
  for (const linked of ['node_modules', '.node'])
    if (existsSync(join(ROOT, linked))) symlinkSync(join(ROOT, linked), join(copy, linked));
}

describe('npm run package', () => {
  // Visible as skipped where the kernel allows no user namespaces; it runs on this project's machines.
  it.runIf(isolated)(
    'builds with no network at all, and every bucket of both templates blocks public access and is encrypted',
    () => {
      cloneTree();
      const result = spawnSync('unshare', ['-rn', 'npm', 'run', '--silent', 'package'], {
        cwd: copy,
        encoding: 'utf8',
        env: { ...process.env, npm_config_update_notifier: 'false' },
        timeout: 170_000,
      });
      expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
      const out = join(copy, '.serverless');
      expect(existsSync(join(out, 'mysql-failover.zip'))).toBe(true);
      for (const file of [
        'cloudformation-template-create-stack.json',
        'cloudformation-template-update-stack.json',
      ]) {
        const template = JSON.parse(readFileSync(join(out, file), 'utf8')) as Template;
        const buckets = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::S3::Bucket');
        expect(buckets.length, file).toBeGreaterThan(0);
        for (const [id, bucket] of buckets) {
          expect(bucket.Properties.PublicAccessBlockConfiguration, `${file} ${id}`).toEqual({
            BlockPublicAcls: true,
            BlockPublicPolicy: true,
            IgnorePublicAcls: true,
            RestrictPublicBuckets: true,
          });
          const sse = (
            bucket.Properties.BucketEncryption as { ServerSideEncryptionConfiguration?: unknown[] }
          )?.ServerSideEncryptionConfiguration;
          expect(sse?.length, `${file} ${id}`).toBeGreaterThan(0);
        }
      }
    },
    180_000,
  );
});
