/**
 * README tables generated from the code they document (analysis codes and their plans; the grants), so
 * that the README cannot drift: `npm run readme` rewrites them, and a unit test fails when they are stale.
 */

import { type PrivilegeNeed, REPLICATION_PRIVILEGES, WATCHDOG_PRIVILEGES } from '../cluster/grants.js';
import { ANALYSIS_CODES, DESCRIPTIONS } from '../core/analysis.js';
import { RULES } from '../core/planner.js';

const cell = (text: string): string => text.replace(/\|/g, '\\|');

export function analysisTable(): string {
  const rows = ANALYSIS_CODES.map((code) => {
    const rule = RULES[code];
    const action =
      rule.action === 'operation'
        ? `operation \`${rule.operation}\``
        : rule.action === 'follow'
          ? 'follow the election'
          : rule.action;
    return `| \`${code}\` | ${cell(DESCRIPTIONS[code])} | ${action} (${rule.severity}) — ${cell(rule.why)} |`;
  });
  return [
    'Codes are listed in precedence order: when several hold, the first one wins (the others are kept in the',
    "analysis' `also`). The table is generated from `functions/core/analysis.ts` and `functions/core/planner.ts`;",
    'the named detectors of `functions/core/detectors.ts` decide, in that order.',
    '',
    '| code | observed | plan |',
    '|---|---|---|',
    ...rows,
  ].join('\n');
}

function privilegeRows(list: readonly PrivilegeNeed[]): string[] {
  return list.map(
    (p) =>
      `| \`${p.privilege}\` | ${p.scope === 'global' ? '`*.*`' : p.scope === 'accounts' ? 'each `mysql` account table' : 'per schema'} | ${cell(p.neededFor)} |`,
  );
}

export function grantsTable(): string {
  return [
    '**MariaDB 10.5+** (verified on 10.11), watchdog user:',
    '',
    '| privilege | on | needed for |',
    '|---|---|---|',
    ...privilegeRows(WATCHDOG_PRIVILEGES.mariadb),
    '',
    '**MySQL 8.0 / 8.4 / 9.x** (verified on a real MySQL 9.7: the tests run every operation as this account; 8.0 and 8.4 at statement level), watchdog user:',
    '',
    '| privilege | on | needed for |',
    '|---|---|---|',
    ...privilegeRows(WATCHDOG_PRIVILEGES.mysql),
    '',
    '**MySQL 5.7** (statement level), watchdog user:',
    '',
    '| privilege | on | needed for |',
    '|---|---|---|',
    ...privilegeRows(WATCHDOG_PRIVILEGES.mysql57),
    '',
    'Replication user: ' +
      (['mariadb', 'mysql', 'mysql57'] as const)
        .map(
          (f) =>
            `${{ mariadb: 'MariaDB', mysql: 'MySQL 8.0+', mysql57: 'MySQL 5.7' }[f]}: ${REPLICATION_PRIVILEGES[f].map((p) => `\`${p.privilege}\``).join(', ')}`,
        )
        .join('; ') +
      '.',
  ].join('\n');
}

export const GENERATED: Record<string, () => string> = {
  'analysis-codes': analysisTable,
  grants: grantsTable,
};

/** Replaces each `<!-- NAME:begin -->…<!-- NAME:end -->` block of the README with fresh content. */
export function renderReadme(readme: string): string {
  let out = readme;
  for (const [name, render] of Object.entries(GENERATED)) {
    const begin = `<!-- ${name}:begin -->`;
    const end = `<!-- ${name}:end -->`;
    const from = out.indexOf(begin);
    const to = out.indexOf(end);
    if (from < 0 || to < from) throw new Error(`README has no ${begin} … ${end} block`);
    out = `${out.slice(0, from + begin.length)}\n${render()}\n${out.slice(to)}`;
  }
  return out;
}
