import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { WATCHDOG_PRIVILEGES } from '../../../functions/cluster/grants.js';
import { ANALYSIS_CODES } from '../../../functions/core/analysis.js';
import { renderReadme } from '../../../functions/docs/readme-tables.js';

const readme = readFileSync('README.md', 'utf8');

describe('README', () => {
  it('holds the generated tables as the code describes them today (run npm run readme)', () => {
    expect(renderReadme(readme)).toBe(readme);
  });

  it('documents every analysis code and every privilege the watchdog is granted', () => {
    for (const code of ANALYSIS_CODES) expect(readme).toContain(`| \`${code}\` |`);
    for (const p of [
      ...WATCHDOG_PRIVILEGES.mariadb,
      ...WATCHDOG_PRIVILEGES.mysql,
      ...WATCHDOG_PRIVILEGES.mysql57,
    ]) {
      expect(readme).toContain(`| \`${p.privilege}\` |`);
    }
  });

  it('gives a quick start of exactly two commands', () => {
    const quickStart = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('## How it works'));
    const block = /```sh\n([\s\S]*?)```/.exec(quickStart)?.[1] ?? '';
    const commands = block.split('\n').filter((line) => line.trim() !== '');
    expect(commands.map((c) => c.split('#')[0]!.trim())).toEqual(['npm start', 'npm test']);
  });

  it('is what CI runs: .ci/run runs the README test command', () => {
    expect(readFileSync('.ci/run', 'utf8')).toMatch(/^npm test$/m);
  });
});
