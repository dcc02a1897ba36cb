import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DOCUMENT_PARAMETER_NAMES,
  DOCUMENT_PARAMETERS,
  ROUTER_KINDS,
  SCRIPT_PATTERNS,
} from '../../../functions/routers/parameters.js';
import { readRouterScriptFiles } from '../../../functions/routers/script-files.js';
import {
  buildRouterSwitchDocument,
  COMMON_SCRIPT,
  type CommandDocument,
  compactScript,
  DOCUMENT_BUDGET_BYTES,
  documentFileName,
  embeddedScripts,
  renderDocumentJson,
  SCRIPT_END_MARKER,
  scriptKinds,
  validateCommandDocument,
} from '../../../functions/routers/ssm-document.js';
import { documentPath, SCRIPT_PATH } from '../../fixtures/routers/agent.js';

const script = readFileSync(SCRIPT_PATH, 'utf8');
const files = readRouterScriptFiles();
const documents = Object.fromEntries(
  ROUTER_KINDS.map((kind) => [kind, JSON.parse(readFileSync(documentPath(kind), 'utf8')) as CommandDocument]),
);

describe('the RouterSwitch SSM documents', () => {
  it('are one per router kind file, and no other router document is left in infra/ssm', () => {
    expect(scriptKinds(files)).toEqual([...ROUTER_KINDS]);
    // infra/ssm also holds the other documents the stack installs (physical reseed).
    const committed = readdirSync(dirname(SCRIPT_PATH)).filter(
      (name) => name.startsWith('router-switch') && name.endsWith('.json'),
    );
    expect(committed.sort()).toEqual(ROUTER_KINDS.map(documentFileName).sort());
  });

  describe.each(ROUTER_KINDS)('%s', (kind) => {
    const document = documents[kind]!;
    const documentText = readFileSync(documentPath(kind), 'utf8');

    it('carries the common part and its kind file, each the file without its comments', () => {
      const names = [COMMON_SCRIPT, `router-kinds/${kind}.sh`];
      const expected = Object.fromEntries(names.map((name) => [name, compactScript(files[name]!)]));
      expect(embeddedScripts(document)).toEqual(expected);
      // What the instance runs still parses as bash.
      for (const [name, text] of Object.entries(expected)) {
        const check = spawnSync('bash', ['-n'], { input: text, encoding: 'utf8' });
        expect(check.stderr, name).toBe('');
        expect(check.status, name).toBe(0);
      }
    });

    it('is exactly what the build step produces from the script files and the parameter module', () => {
      // Compared as data: the layout is biome's (the build step formats the file).
      expect(document).toEqual(JSON.parse(renderDocumentJson(buildRouterSwitchDocument(files, kind))));
    });

    it('stays under the SSM size limit with room for the parameter values', () => {
      expect(Buffer.byteLength(documentText, 'utf8')).toBeLessThan(DOCUMENT_BUDGET_BYTES);
    });

    it('validates offline against the Command document schema 2.2', () => {
      expect(validateCommandDocument(document)).toEqual([]);
      expect(document.schemaVersion).toBe('2.2');
      expect(document.mainSteps).toHaveLength(1);
      expect(document.mainSteps[0]!.action).toBe('aws:runShellScript');
      expect(document.mainSteps[0]!.precondition).toEqual({ StringEquals: ['platformType', 'Linux'] });
      expect(document.mainSteps[0]!.inputs.timeoutSeconds).toBe('{{ ExecutionTimeout }}');
    });

    it('gives every parameter a String type and an allowedPattern or allowedValues', () => {
      expect(Object.keys(document.parameters)).toEqual(DOCUMENT_PARAMETER_NAMES);
      for (const [name, spec] of Object.entries(document.parameters)) {
        expect(spec.type, name).toBe('String');
        expect(spec.allowedPattern !== undefined || spec.allowedValues !== undefined, name).toBe(true);
      }
    });

    it('uses the same patterns and values as our own validation, and accepts its own kind only', () => {
      for (const name of DOCUMENT_PARAMETER_NAMES) {
        expect(document.parameters[name]!.allowedPattern, name).toBe(
          DOCUMENT_PARAMETERS[name].allowedPattern,
        );
        if (name === 'RouterKind') continue;
        expect(document.parameters[name]!.allowedValues, name).toEqual(
          DOCUMENT_PARAMETERS[name].allowedValues ? [...DOCUMENT_PARAMETERS[name].allowedValues!] : undefined,
        );
      }
      expect(document.parameters.RouterKind).toMatchObject({ allowedValues: [kind], default: kind });
    });

    it('passes each value to the script only as an environment variable, never pasted into the text', () => {
      const prelude = document.mainSteps[0]!.inputs.runCommand[0]!;
      for (const name of DOCUMENT_PARAMETER_NAMES.filter((n) => n !== 'ExecutionTimeout')) {
        expect(document.parameters[name]!.interpolationType).toBe('ENV_VAR');
        expect(prelude).toContain(`${DOCUMENT_PARAMETERS[name].env}=\${SSM_${name}-}; export`);
      }
      // The only {{ }} reference is the agent's own timeout, outside the script.
      expect(JSON.stringify(document.mainSteps).match(/\{\{[^}]*\}\}/g)).toEqual(['{{ ExecutionTimeout }}']);
      expect(document.mainSteps[0]!.inputs.runCommand[1]).toBe(
        `cat >"$rs_dir/${COMMON_SCRIPT}" <<'${SCRIPT_END_MARKER}'`,
      );
    });
  });

  it('a fourth router kind as large as the largest of today still fits its own document', () => {
    const sizes = ROUTER_KINDS.map((kind) => Buffer.byteLength(readFileSync(documentPath(kind), 'utf8')));
    // Kinds do not share a document: a new one adds a document, so only the largest matters.
    expect(Math.max(...sizes)).toBeLessThan(DOCUMENT_BUDGET_BYTES);
  });

  it('keeps {{ and the here-document marker out of every script file', () => {
    for (const text of Object.values(files)) {
      expect(text).not.toContain('{{');
      expect(text.split('\n')).not.toContain(SCRIPT_END_MARKER);
    }
  });

  it('declares in the script the same patterns as the parameter module', () => {
    const declared = Object.fromEntries(
      [...script.matchAll(/^PAT_([A-Za-z]+)='([^']*)'$/gm)].map((m) => [m[1]!, m[2]!]),
    );
    const { ExecutionTimeout: _unused, ...scriptSide } = SCRIPT_PATTERNS;
    expect(declared).toEqual(scriptSide);
  });

  it('reports what is wrong with a broken document', () => {
    const broken = structuredClone(documents.haproxy!) as unknown as Record<string, unknown> &
      CommandDocument;
    (broken as { schemaVersion: string }).schemaVersion = '2.0';
    delete broken.parameters.Section!.allowedPattern;
    broken.parameters.DryRun!.default = 'maybe';
    broken.mainSteps[0]!.inputs.runCommand.push('echo {{ Nope }}');
    (broken.mainSteps[0] as { action: string }).action = 'aws:runSomething';
    const problems = validateCommandDocument(broken);
    expect(problems).toEqual(
      expect.arrayContaining([
        'schemaVersion must be the string "2.2"',
        'parameter Section: needs allowedPattern or allowedValues',
        'parameter DryRun: default is not one of allowedValues',
        '{{ Nope }} names no declared parameter',
        'mainSteps[0]: unknown action aws:runSomething',
      ]),
    );
    expect(validateCommandDocument({ schemaVersion: '2.2', mainSteps: [] })).toContain(
      'mainSteps must be a non-empty list',
    );
  });
});

describe('the generated documents hold the root boundary on the backends', () => {
  const accepts = (kind: string, name: string, value: string): boolean => {
    const spec = documents[kind]!.parameters[name]!;
    if (spec.allowedValues && !spec.allowedValues.includes(value)) return false;
    return spec.allowedPattern === undefined || new RegExp(spec.allowedPattern).test(value);
  };

  it.each(ROUTER_KINDS)(
    '%s: no path parameter accepts a file outside the fixed folders, a device or ..',
    (kind) => {
      for (const name of ['ConfigPath', 'VerifyDefaultsFile']) {
        for (const bad of [
          '/tmp/x.cnf',
          '/dev/zero',
          '/etc/haproxy/../../tmp/x.cnf',
          '/etc/mysql-failover/../../root/x.cnf',
          '/etc/haproxy/a..b',
          '/etc/haproxy//haproxy.cfg',
          '/etc/haproxy/.hidden.cfg',
          '/etc/haproxyx/haproxy.cfg',
          '/etc/haproxy',
          '/root/.my.cnf',
          '/proc/self/environ',
          'etc/haproxy/haproxy.cfg',
        ]) {
          expect(accepts(kind, name, bad), `${name}=${bad}`).toBe(false);
        }
      }
      expect(accepts(kind, 'ConfigPath', '/etc/haproxy/haproxy.cfg')).toBe(true);
      expect(accepts(kind, 'ConfigPath', '/etc/mysqlrouter/mysqlrouter.conf')).toBe(true);
      expect(accepts(kind, 'ConfigPath', '/etc/mysql-failover/proxysql-admin.cnf')).toBe(true);
      expect(accepts(kind, 'VerifyDefaultsFile', '/etc/mysql-failover/router-verify.cnf')).toBe(true);
      expect(accepts(kind, 'VerifyDefaultsFile', '/etc/haproxy/router-verify.cnf')).toBe(false);
    },
  );

  it.each(ROUTER_KINDS)('%s: ServiceName accepts router units only', (kind) => {
    for (const unit of [
      'reboot.target',
      'mariadb',
      'amazon-ssm-agent',
      'sshd.service',
      'haproxy.target',
      'haproxyx',
    ]) {
      expect(accepts(kind, 'ServiceName', unit), unit).toBe(false);
    }
    for (const unit of [
      '',
      'haproxy',
      'haproxy.service',
      'mysqlrouter',
      'mysqlrouter@shop.service',
      'proxysql',
    ]) {
      expect(accepts(kind, 'ServiceName', unit), unit).toBe(true);
    }
  });

  it.each(ROUTER_KINDS)('%s: VerifyTimeoutSeconds always fits twice inside ExecutionTimeout', (kind) => {
    expect(accepts(kind, 'VerifyTimeoutSeconds', '60')).toBe(true);
    expect(accepts(kind, 'VerifyTimeoutSeconds', '61')).toBe(false);
    expect(accepts(kind, 'VerifyTimeoutSeconds', '999')).toBe(false);
    expect(accepts(kind, 'VerifyTimeoutSeconds', '0')).toBe(false);
    expect(accepts(kind, 'ExecutionTimeout', '119')).toBe(false);
    expect(accepts(kind, 'ExecutionTimeout', '120')).toBe(true);
    expect(accepts(kind, 'ExecutionTimeout', '3600')).toBe(true);
    expect(accepts(kind, 'ExecutionTimeout', '3601')).toBe(false);
  });

  it.each(ROUTER_KINDS)('%s: a port has one spelling (no leading zero)', (kind) => {
    for (const name of ['Destinations', 'Fenced', 'VerifyAddress']) {
      expect(accepts(kind, name, 'db1:03306'), name).toBe(false);
      expect(accepts(kind, name, 'db1:0'), name).toBe(false);
      expect(accepts(kind, name, 'db1:3306'), name).toBe(true);
    }
  });
});
