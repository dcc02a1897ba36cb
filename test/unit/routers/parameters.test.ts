import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../functions/errors.js';
import {
  type SwitchParametersInput,
  validateSwitchParameters,
} from '../../../functions/routers/parameters.js';
import type { CommandDocument } from '../../../functions/routers/ssm-document.js';
import { documentPath } from '../../fixtures/routers/agent.js';

const document = JSON.parse(readFileSync(documentPath('haproxy'), 'utf8')) as CommandDocument;

const HOSTILE = [
  '; rm -rf /',
  '127.0.0.1:3306; rm -rf /',
  '$(reboot)',
  '127.0.0.1:$(id)',
  '`id`',
  'db1:3306`id`',
  "db1:3306' ; echo owned; '",
  'db1:3306"',
  '127.0.0.1:3306\nrm -rf /',
  '127.0.0.1:3306\n',
  'a|b',
  'db1:3306&&id',
  'db1:3306 > /etc/passwd',
  '../../etc/passwd',
  '/etc/../../root/.ssh/authorized_keys',
  '{{ ssm:secret }}',
  '\\x41',
  'x'.repeat(5000),
  `${'a'.repeat(300)}:3306`,
  Array.from({ length: 20 }, (_, i) => `10.0.0.${i}:3306`).join(','),
  '',
];

const PATTERNED = Object.entries(document.parameters).filter(([, spec]) => spec.allowedPattern);
const ENUMERATED = Object.entries(document.parameters).filter(([, spec]) => spec.allowedValues);

const valid: SwitchParametersInput = {
  routerKind: 'haproxy',
  configPath: '/etc/haproxy/haproxy.cfg',
  section: 'mysql_failover',
  destinations: ['10.0.0.12:3306', 'db1.internal:3306'],
  fenced: ['10.0.0.11:3306'],
  dryRun: false,
};

describe('router switch parameters', () => {
  it('rejects hostile values with the document’s own allowedPattern', () => {
    for (const [name, spec] of PATTERNED) {
      const pattern = new RegExp(spec.allowedPattern!);
      for (const value of HOSTILE) {
        // An empty value is legitimate for the optional parameters only.
        if (value === '' && pattern.test('')) continue;
        expect(pattern.test(value), `${name} accepted ${JSON.stringify(value.slice(0, 40))}`).toBe(false);
      }
    }
  });

  it('admits no shell metacharacter through any pattern or allowed value', () => {
    const metacharacters = [
      ';',
      '$',
      '`',
      "'",
      '"',
      '\\',
      '|',
      '&',
      '<',
      '>',
      '(',
      ')',
      ' ',
      '\n',
      '\t',
      '*',
      '?',
      '{',
      '}',
      '!',
      '#',
      '~',
    ];
    for (const [name, spec] of PATTERNED) {
      const pattern = new RegExp(spec.allowedPattern!);
      for (const c of metacharacters) {
        for (const probe of [`a${c}`, `10.0.0.1:3306${c}`, `/etc/a${c}`, `${c}`]) {
          expect(pattern.test(probe), `${name} accepted ${JSON.stringify(probe)}`).toBe(false);
        }
      }
    }
    for (const [name, spec] of ENUMERATED) {
      for (const value of spec.allowedValues!) expect(value, name).toMatch(/^[a-z]+$/);
    }
  });

  it('accepts ordinary values', () => {
    const values = validateSwitchParameters(valid);
    expect(values).toMatchObject({
      Action: 'switch',
      RouterKind: 'haproxy',
      Destinations: '10.0.0.12:3306,db1.internal:3306',
      Fenced: '10.0.0.11:3306',
      DryRun: 'false',
    });
    for (const [name, value] of Object.entries(values)) {
      const spec = document.parameters[name]!;
      if (spec.allowedPattern) expect(new RegExp(spec.allowedPattern).test(value), name).toBe(true);
      if (spec.allowedValues) expect(spec.allowedValues, name).toContain(value);
    }
  });

  it('rejects hostile values in our own validation, before any call', () => {
    for (const value of HOSTILE) {
      expect(() => validateSwitchParameters({ ...valid, destinations: [value] })).toThrow(UsageError);
      if (value !== '') {
        expect(() => validateSwitchParameters({ ...valid, fenced: [value] })).toThrow(UsageError);
        expect(() => validateSwitchParameters({ ...valid, configPath: value })).toThrow(UsageError);
        expect(() => validateSwitchParameters({ ...valid, section: value })).toThrow(UsageError);
        expect(() => validateSwitchParameters({ ...valid, serviceName: value })).toThrow(UsageError);
        expect(() => validateSwitchParameters({ ...valid, verifyAddress: value })).toThrow(UsageError);
        expect(() => validateSwitchParameters({ ...valid, verifyDefaultsFile: value })).toThrow(UsageError);
      }
    }
    expect(() =>
      validateSwitchParameters({
        ...valid,
        routerKind: 'nginx; id' as unknown as SwitchParametersInput['routerKind'],
      }),
    ).toThrow(UsageError);
    expect(() =>
      validateSwitchParameters({
        ...valid,
        applyMode: 'command; id' as unknown as SwitchParametersInput['applyMode'],
      }),
    ).toThrow(UsageError);
  });

  it('refuses an element that smuggles a second destination or a bad port', () => {
    expect(() =>
      validateSwitchParameters({ ...valid, destinations: ['10.0.0.12:3306,10.0.0.11:3306'] }),
    ).toThrow(/not host:port/);
    expect(() => validateSwitchParameters({ ...valid, destinations: ['10.0.0.12:70000'] })).toThrow(
      /1-65535/,
    );
    expect(() => validateSwitchParameters({ ...valid, destinations: ['10.0.0.12:0'] })).toThrow(
      /not host:port/,
    );
  });

  it('gives a port one spelling: a leading zero cannot slip past the fenced and duplicate checks', () => {
    expect(() => validateSwitchParameters({ ...valid, destinations: ['10.0.0.11:03306'] })).toThrow(
      /not host:port/,
    );
    expect(() =>
      validateSwitchParameters({ ...valid, destinations: ['10.0.0.12:3306', '10.0.0.12:03306'] }),
    ).toThrow(/not host:port/);
  });

  it('accepts only router units as ServiceName', () => {
    for (const serviceName of ['reboot.target', 'mariadb', 'amazon-ssm-agent', 'sshd']) {
      expect(() => validateSwitchParameters({ ...valid, serviceName }), serviceName).toThrow(/ServiceName/);
    }
    expect(validateSwitchParameters({ ...valid, serviceName: 'haproxy@edge.service' }).ServiceName).toBe(
      'haproxy@edge.service',
    );
  });

  it('keeps the verification well inside the execution timeout', () => {
    expect(() =>
      validateSwitchParameters({ ...valid, verifyTimeoutSeconds: 900, executionTimeoutSeconds: 120 }),
    ).toThrow(/VerifyTimeoutSeconds/);
    expect(() =>
      validateSwitchParameters({ ...valid, verifyTimeoutSeconds: 60, executionTimeoutSeconds: 120 }),
    ).toThrow(/less than half of ExecutionTimeout/);
    expect(
      validateSwitchParameters({ ...valid, verifyTimeoutSeconds: 59, executionTimeoutSeconds: 120 }),
    ).toMatchObject({ VerifyTimeoutSeconds: '59', ExecutionTimeout: '120' });
  });

  it('names a path outside the fixed folders, and allows other folders only when asked (local runs)', () => {
    expect(() => validateSwitchParameters({ ...valid, configPath: '/tmp/haproxy.cfg' })).toThrow(
      /ConfigPath/,
    );
    expect(() => validateSwitchParameters({ ...valid, verifyDefaultsFile: '/tmp/evil.cnf' })).toThrow(
      /VerifyDefaultsFile/,
    );
    expect(
      validateSwitchParameters({ ...valid, configPath: '/tmp/r1/haproxy.cfg' }, { extraDirs: ['/tmp/r1'] })
        .ConfigPath,
    ).toBe('/tmp/r1/haproxy.cfg');
    expect(() =>
      validateSwitchParameters({ ...valid, configPath: '/tmp/r1/../x.cfg' }, { extraDirs: ['/tmp/r1'] }),
    ).toThrow(/ConfigPath/);
  });

  it('refuses a fenced server as a destination, duplicates, and an empty switch', () => {
    expect(() => validateSwitchParameters({ ...valid, destinations: ['10.0.0.11:3306'] })).toThrow(/fenced/);
    expect(() =>
      validateSwitchParameters({ ...valid, destinations: ['10.0.0.12:3306', '10.0.0.12:3306'] }),
    ).toThrow(/twice/);
    expect(() => validateSwitchParameters({ ...valid, destinations: [] })).toThrow(
      /at least the new primary/,
    );
    expect(
      validateSwitchParameters({ ...valid, action: 'status', destinations: [], fenced: [] }).Destinations,
    ).toBe('');
  });

  it('requires hostgroup ids as the ProxySQL section', () => {
    expect(() =>
      validateSwitchParameters({ ...valid, routerKind: 'proxysql', section: 'mysql_failover' }),
    ).toThrow(/hostgroup/);
    expect(validateSwitchParameters({ ...valid, routerKind: 'proxysql', section: '10:20' }).Section).toBe(
      '10:20',
    );
  });

  it('names every problem in one error', () => {
    try {
      validateSwitchParameters({ ...valid, configPath: 'relative', section: 'a b', destinations: ['$(x)'] });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(UsageError);
      const message = (error as Error).message;
      expect(message).toContain('ConfigPath');
      expect(message).toContain('Section');
      expect(message).toContain('Destinations');
    }
  });
});
