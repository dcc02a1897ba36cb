import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DOCUMENT_PARAMETER_NAMES,
  DOCUMENT_PARAMETERS,
  PATTERNS,
} from '../../../functions/routers/parameters.js';
import {
  buildRouterSwitchDocument,
  type CommandDocument,
  DOCUMENT_BUDGET_BYTES,
  embeddedScript,
  renderDocumentJson,
  SCRIPT_END_MARKER,
  validateCommandDocument,
} from '../../../functions/routers/ssm-document.js';
import { DOCUMENT_PATH, SCRIPT_PATH } from '../../fixtures/routers/agent.js';

const documentText = readFileSync(DOCUMENT_PATH, 'utf8');
const document = JSON.parse(documentText) as CommandDocument;
const script = readFileSync(SCRIPT_PATH, 'utf8');

describe('the RouterSwitch SSM document', () => {
  it('carries the router script file verbatim', () => {
    expect(embeddedScript(document)).toBe(script);
  });

  it('is exactly what the build step produces from the script and the parameter module', () => {
    // Compared as data: the layout is biome's (the build step formats the file).
    expect(document).toEqual(JSON.parse(renderDocumentJson(buildRouterSwitchDocument(script))));
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
    expect(script).not.toContain('{{');
    expect(script.split('\n')).not.toContain(SCRIPT_END_MARKER);
    expect(prelude).toContain(`<<'${SCRIPT_END_MARKER}'`);
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
