import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  buildPhysicalReseedDocument,
  validateCommandDocument,
} from '../../../functions/operations/physical/document.js';
import {
  documentParameters,
  RESEED_PARAMETERS,
  scriptEnvironment,
} from '../../../functions/operations/physical/parameters.js';

const file = (p: string) => readFileSync(fileURLToPath(new URL(`../../../${p}`, import.meta.url)), 'utf8');
const script = file('infra/ssm/reseed/reseed.sh');
const helper = file('infra/ssm/reseed/object-stream.py');

describe('PhysicalReseed document', () => {
  it('is valid, and the committed document is the one built from the script and its helper', () => {
    const built = buildPhysicalReseedDocument(script, helper);
    expect(validateCommandDocument(built)).toEqual([]);
    expect(JSON.parse(file('infra/ssm/physical-reseed.json'))).toEqual(built);
  });

  it('carries the script and the helper verbatim', () => {
    const run = buildPhysicalReseedDocument(script, helper).mainSteps[0]!.inputs.runCommand;
    expect(`${run[1]}\n`).toBe(script);
    expect(run[2]).toContain(helper.trimEnd());
  });

  it('maps every parameter to the script only through SSM_ variables, never by text interpolation', () => {
    const doc = buildPhysicalReseedDocument(script, helper);
    const text = doc.mainSteps[0]!.inputs.runCommand.join('\n');
    expect(text.match(/\{\{[^}]*\}\}/g) ?? []).toEqual([]);
    expect(doc.mainSteps[0]!.inputs.timeoutSeconds).toBe('{{ ExecutionTimeout }}');
    for (const [name, spec] of Object.entries(RESEED_PARAMETERS)) {
      if (!spec.env) continue;
      expect(text).toContain(`${spec.env}=\${SSM_${name}-}`);
      expect(doc.parameters[name]?.interpolationType).toBe('ENV_VAR');
    }
  });

  it('uses the same patterns as the script checks', () => {
    for (const [name, spec] of Object.entries(RESEED_PARAMETERS)) {
      if (!('allowedPattern' in spec) || name === 'ExecutionTimeout') continue;
      expect(script).toContain(`PAT_${name}='${spec.allowedPattern}'`);
    }
  });

  it('offers only systemd to SSM: the service hook exists for a local caller alone', () => {
    expect(RESEED_PARAMETERS.ServiceControl.allowedValues).toEqual(['systemd']);
    expect(
      scriptEnvironment({ action: 'restore', key: 'a/b', store: '/srv/x' }, 'hook').PR_SERVICE_CONTROL,
    ).toBe('hook');
  });

  it('refuses keys that leave the store, stores and units that are not plain names', () => {
    const ok = {
      action: 'backup' as const,
      key: 'operations/c1/000001/physical-db2/backup.xb.gz',
      store: 's3://b-1/p',
    };
    expect(documentParameters(ok).Key).toEqual([ok.key]);
    for (const key of ['../etc/passwd', 'a/../../b', '/abs', 'a b', 'a;b', '.hidden']) {
      expect(() => documentParameters({ ...ok, key })).toThrow(/Key/);
    }
    for (const store of ['s3://b/p;rm', 'relative/folder', 'http://evil/']) {
      expect(() => documentParameters({ ...ok, store })).toThrow(/Store/);
    }
    expect(() => documentParameters({ ...ok, serviceName: 'mariadb; reboot' })).toThrow(/ServiceName/);
    expect(() => documentParameters({ ...ok, parallel: 99 })).toThrow(/Parallel/);
  });
});

describe('the physical reseed document holds the root boundary on the database hosts', () => {
  const doc = buildPhysicalReseedDocument(script, helper);
  const accepts = (name: string, value: string): boolean => {
    const spec = doc.parameters[name]!;
    if (spec.allowedValues && !spec.allowedValues.includes(value)) return false;
    return spec.allowedPattern === undefined || new RegExp(spec.allowedPattern).test(value);
  };

  it('ServiceName accepts database server units only: a restore stops and starts it as root', () => {
    for (const unit of [
      'reboot.target',
      'amazon-ssm-agent',
      'sshd.service',
      'haproxy',
      'mariadb.target',
      'mariadbx',
      'mysql-router',
      'systemd-journald',
    ]) {
      expect(accepts('ServiceName', unit), unit).toBe(false);
      expect(() =>
        documentParameters({ action: 'restore', key: 'a/b', store: 's3://b-1/p', serviceName: unit }),
      ).toThrow(/ServiceName/);
    }
    for (const unit of [
      'mariadb',
      'mariadb.service',
      'mariadb@shop',
      'mysql',
      'mysqld',
      'mysqld@2.service',
    ]) {
      expect(accepts('ServiceName', unit), unit).toBe(true);
    }
  });

  it('ExecutionTimeout is a number of seconds from 60 to SSM’s 48 hours', () => {
    const accepted = [];
    for (let s = 0; s <= 200_000; s++) if (accepts('ExecutionTimeout', String(s))) accepted.push(s);
    expect(accepted[0]).toBe(60);
    expect(accepted.at(-1)).toBe(172_800);
    expect(accepted.length).toBe(172_800 - 60 + 1);
    for (const bad of ['00', '060', '0172800', '1e5', ''])
      expect(accepts('ExecutionTimeout', bad), bad).toBe(false);
  });

  it('gives every parameter an allowedPattern or allowedValues', () => {
    for (const [name, spec] of Object.entries(doc.parameters)) {
      expect(Boolean(spec.allowedPattern || spec.allowedValues), name).toBe(true);
    }
  });
});
