import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Every shell script of the repository: *.sh, and any other file whose first line names a shell. */
function shellScripts(): string[] {
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard'], {
    cwd: ROOT,
    encoding: 'utf8',
  })
    .split('\n')
    .filter((f) => f !== '' && !f.startsWith('node_modules/'));
  return files.filter((file) => {
    if (file.endsWith('.sh')) return true;
    if (/\.(ts|mjs|cjs|js|json|md|yml|yaml|txt|cnf|cfg|sql|gz)$/.test(file)) return false;
    try {
      const head = readFileSync(join(ROOT, file), 'utf8').slice(0, 64);
      return /^#!.*\b(ba)?sh\b/.test(head);
    } catch {
      return false;
    }
  });
}

describe('shell scripts', () => {
  it('are all shellcheck-clean (the router scripts run as root on the backends)', () => {
    const scripts = shellScripts();
    expect(scripts).toEqual(expect.arrayContaining(['infra/ssm/router-switch.sh', 'scripts/setup.sh']));
    const run = spawnSync('shellcheck', ['--external-sources', ...scripts], { cwd: ROOT, encoding: 'utf8' });
    if (run.error)
      throw new Error(`shellcheck cannot run (bash scripts/setup.sh installs it): ${run.error.message}`);
    expect(run.stdout + run.stderr, `shellcheck ${scripts.join(' ')}`).toBe('');
    expect(run.status).toBe(0);
  });
});
