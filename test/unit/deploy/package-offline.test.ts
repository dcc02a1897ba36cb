/**
 * `npm run package` builds offline: run in a fresh network namespace (no interface up, not even
 * loopback; no DNS), it still produces the template and the artifact from deploy/sample.yml. Every
 * bucket of both templates it writes (the stack's first creation and its updates) blocks public
 * access and is encrypted.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, type Template, withPackageLock } from './packaged.js';

/** unshare(1) with a user namespace: a network namespace without being root. */
const isolated = spawnSync('unshare', ['-rn', 'true']).status === 0;
const out = mkdtempSync(join(tmpdir(), 'package-offline-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('npm run package', () => {
  // Visible as skipped where the kernel allows no user namespaces; it runs on this project's machines.
  it.runIf(isolated)(
    'builds with no network at all, and every bucket of both templates blocks public access and is encrypted',
    () => {
      const result = withPackageLock(() =>
        spawnSync('unshare', ['-rn', 'npm', 'run', '--silent', 'package', '--', '--package', out], {
          cwd: ROOT,
          encoding: 'utf8',
          env: { ...process.env, npm_config_update_notifier: 'false' },
          timeout: 170_000,
        }),
      );
      expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
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
