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
