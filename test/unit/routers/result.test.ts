import { describe, expect, it } from 'vitest';
import { parseScriptOutput, routerOutcome } from '../../../functions/routers/result.js';

const line = (overrides: Record<string, unknown> = {}) =>
  JSON.stringify({
    schema: 'router-switch/1',
    ok: true,
    action: 'switch',
    kind: 'haproxy',
    host: 'web-1',
    config: '/etc/haproxy/haproxy.cfg',
    section: 'mysql_failover',
    dryRun: false,
    changed: true,
    alreadyInPlace: false,
    validated: true,
    applied: 'systemd',
    backup: '/var/backups/mysql-failover/haproxy.cfg.1.bak',
    previous: ['10.0.0.11:3306'],
    destinations: ['10.0.0.12:3306'],
    fenced: ['10.0.0.11:3306'],
    runtime: [],
    verify: { status: 'ok', through: '127.0.0.1:3306', expected: '2 3306 db2', answered: '2 3306 db2' },
    rolledBack: false,
    warnings: [],
    message: 'switched to 10.0.0.12:3306',
    durationMs: 812,
    ...overrides,
  });

describe('the script result line', () => {
  it('is found in SSM plugin output that carries stderr after it', () => {
    const output = `${line()}\n\n----------ERROR-------\nrouter-switch: warning: something\n`;
    expect(parseScriptOutput(output)).toMatchObject({ ok: true, destinations: ['10.0.0.12:3306'] });
  });

  it('is not trusted when cut short or malformed', () => {
    expect(parseScriptOutput(line().slice(0, 200))).toBeNull();
    expect(parseScriptOutput(line({ verify: { status: 'maybe' } }))).toBeNull();
    expect(parseScriptOutput('{"schema":"other"}')).toBeNull();
    expect(parseScriptOutput('')).toBeNull();
  });

  it('decides a router outcome from the exit code and the line together', () => {
    const ok = parseScriptOutput(line());
    expect(routerOutcome(0, ok)).toEqual({ ok: true, outcome: 'switched' });
    expect(routerOutcome(5, ok)).toEqual({ ok: false, outcome: 'failed' });
    expect(routerOutcome(0, null)).toEqual({ ok: false, outcome: 'failed' });
    expect(routerOutcome(6, parseScriptOutput(line({ ok: false })))).toEqual({
      ok: false,
      outcome: 'needs-human',
    });
    expect(routerOutcome(0, parseScriptOutput(line({ changed: false, alreadyInPlace: true })))).toEqual({
      ok: true,
      outcome: 'unchanged',
    });
    expect(routerOutcome(0, parseScriptOutput(line({ dryRun: true, changed: false })))).toEqual({
      ok: true,
      outcome: 'dry-run',
    });
  });
});
