import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DOCUMENT_PARAMETER_NAMES,
  DOCUMENT_PARAMETERS,
  PATTERNS,
} from '../../../functions/routers/parameters.js';
import { readRouterScriptFiles } from '../../../functions/routers/script-files.js';
import {
  buildRouterSwitchDocument,
  COMMON_SCRIPT,
  type CommandDocument,
  compactScript,
  DOCUMENT_BUDGET_BYTES,
  embeddedScripts,
  renderDocumentJson,
  SCRIPT_END_MARKER,
  validateCommandDocument,
} from '../../../functions/routers/ssm-document.js';
import { DOCUMENT_PATH, SCRIPT_PATH } from '../../fixtures/routers/agent.js';

const documentText = readFileSync(DOCUMENT_PATH, 'utf8');
const document = JSON.parse(documentText) as CommandDocument;
const script = readFileSync(SCRIPT_PATH, 'utf8');
const files = readRouterScriptFiles();

describe('the RouterSwitch SSM document', () => {
  it('carries the common part and one file per router kind, each the file without its comments', () => {
    expect(Object.keys(files)).toEqual([
      COMMON_SCRIPT,
      'router-kinds/haproxy.sh',
      'router-kinds/mysqlrouter.sh',
      'router-kinds/proxysql.sh',
    ]);
    const expected = Object.fromEntries(
      Object.entries(files).map(([name, text]) => [name, compactScript(text)]),
    );
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
    expect(document).toEqual(JSON.parse(renderDocumentJson(buildRouterSwitchDocument(files))));
  });

  it('stays under the SSM size limit with room for the parameter values and a fourth router kind', () => {
    const size = Buffer.byteLength(documentText, 'utf8');
    expect(size).toBeLessThan(DOCUMENT_BUDGET_BYTES);
    // A fourth kind as large as the largest one of today still fits.
    const largestKind = Math.max(
      ...Object.entries(files)
        .filter(([name]) => name !== COMMON_SCRIPT)
        .map(([, text]) => Buffer.byteLength(JSON.stringify(compactScript(text)), 'utf8')),
    );
    expect(size + largestKind).toBeLessThan(DOCUMENT_BUDGET_BYTES);
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

  it('uses the same patterns and values as our own validation', () => {
    for (const name of DOCUMENT_PARAMETER_NAMES) {
      expect(document.parameters[name]!.allowedPattern, name).toBe(DOCUMENT_PARAMETERS[name].allowedPattern);
      expect(document.parameters[name]!.allowedValues, name).toEqual(
        DOCUMENT_PARAMETERS[name].allowedValues ? [...DOCUMENT_PARAMETERS[name].allowedValues!] : undefined,
      );
    }
  });

  it('declares in the script the same patterns as the parameter module', () => {
    const declared = Object.fromEntries(
      [...script.matchAll(/^PAT_([A-Za-z]+)='([^']*)'$/gm)].map((m) => [m[1]!, m[2]!]),
    );
    const { ExecutionTimeout: _unused, ...scriptSide } = PATTERNS;
    expect(declared).toEqual(scriptSide);
  });

  it('passes each value to the script only as an environment variable, never pasted into the text', () => {
    const prelude = document.mainSteps[0]!.inputs.runCommand[0]!;
    for (const name of DOCUMENT_PARAMETER_NAMES.filter((n) => n !== 'ExecutionTimeout')) {
      expect(document.parameters[name]!.interpolationType).toBe('ENV_VAR');
      expect(prelude).toContain(`${DOCUMENT_PARAMETERS[name].env}=\${SSM_${name}-}; export`);
    }
    // The only {{ }} reference is the agent's own timeout, outside the script.
    expect(JSON.stringify(document.mainSteps).match(/\{\{[^}]*\}\}/g)).toEqual(['{{ ExecutionTimeout }}']);
    for (const text of Object.values(files)) {
      expect(text).not.toContain('{{');
      expect(text.split('\n')).not.toContain(SCRIPT_END_MARKER);
    }
    expect(document.mainSteps[0]!.inputs.runCommand[1]).toBe(
      `cat >"$rs_dir/${COMMON_SCRIPT}" <<'${SCRIPT_END_MARKER}'`,
    );
  });

  it('reports what is wrong with a broken document', () => {
    const broken = structuredClone(document) as unknown as Record<string, unknown> & CommandDocument;
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
