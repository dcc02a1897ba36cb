/**
 * The RouterSwitch SSM Command documents, one per router kind, each built from the common part of the
 * router script (infra/ssm/router-switch.sh), that kind's file (infra/ssm/router-kinds/<kind>.sh) and
 * the parameter definitions (parameters.ts), and an offline validator for Command documents. One
 * document per kind: each instance receives only the code of its own router, and a new kind adds a
 * document instead of growing one towards SSM's 64 KB limit.
 *
 * The SSM Agent runs `aws:runShellScript` with `sh`, not bash (on Debian and Ubuntu that is dash). The
 * document's runCommand entries are:
 *  1. a POSIX sh prelude that maps each parameter to the script's RS_* variable. Values arrive only as
 *     environment variables (`interpolationType: ENV_VAR`, SSM Agent 3.3.2746.0 or later): no parameter
 *     is ever pasted into the script text with `{{ }}`, so even a value that slipped past allowedPattern
 *     could not become code. An older agent sets no variable; the script then refuses (exit 2) and
 *     changes nothing. It makes a private folder for the files;
 *  2. the two script files without their comment and blank lines (see {@link compactScript}; a unit
 *     test compares them with the files), each written into that folder by a quoted here-document (the
 *     shell expands nothing inside it), framed by short sh entries;
 *  3. a sh epilogue that runs the common part with bash, removes the folder and returns the exit code.
 * The files keep their layout in the folder (router-switch.sh, router-kinds/<kind>.sh), so the common
 * part finds its kind file the same way there as in the repository.
 */
import { DOCUMENT_PARAMETER_NAMES, DOCUMENT_PARAMETERS } from './parameters.js';

/** SSM refuses documents over 64 KB, parameter values at run time included. */
export const MAX_DOCUMENT_BYTES = 64 * 1024;
/** What we allow the document itself, leaving room for the parameter values. */
export const DOCUMENT_BUDGET_BYTES = 60 * 1024;

export const SCRIPT_END_MARKER = 'ROUTER_SWITCH_SCRIPT_END';
export const STEP_NAME = 'routerSwitch';
/** The common part's name; the kind files are `router-kinds/<kind>.sh`. */
export const COMMON_SCRIPT = 'router-switch.sh';

/** Script files by their path under infra/ssm (COMMON_SCRIPT and router-kinds/<kind>.sh). */
export type RouterScriptFiles = Readonly<Record<string, string>>;

export interface DocumentParameterSpec {
  type: 'String';
  description: string;
  default?: string;
  allowedPattern?: string;
  allowedValues?: string[];
  interpolationType?: 'ENV_VAR';
}

export interface CommandDocument {
  schemaVersion: '2.2';
  description: string;
  parameters: Record<string, DocumentParameterSpec>;
  mainSteps: {
    action: 'aws:runShellScript';
    name: string;
    precondition: { StringEquals: [string, string] };
    inputs: { timeoutSeconds: string; runCommand: string[] };
  }[];
}

/** Parameters the script reads (everything but ExecutionTimeout, which only the agent uses). */
const SCRIPT_PARAMETERS = DOCUMENT_PARAMETER_NAMES.filter((name) => name !== 'ExecutionTimeout');
const FILE_NAME = /^(router-switch|router-kinds\/[a-z][a-z0-9]{0,31})\.sh$/;

function prelude(): string {
  const lines = [
    '#!/bin/sh',
    '# RouterSwitch prelude (POSIX sh: the SSM Agent runs runShellScript with sh).',
    '# Parameter values are data: they arrive only as SSM_<Name> environment variables (interpolationType',
    '# ENV_VAR) and are never pasted into this text. Nothing below evaluates a value.',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
    'if [ -z "${SSM_RouterKind+x}" ]; then',
    "  echo 'router-switch: no SSM_<Name> parameter variables: this document needs SSM Agent 3.3.2746.0 or later' >&2",
    'fi',
  ];
  for (const name of SCRIPT_PARAMETERS) {
    const env = DOCUMENT_PARAMETERS[name].env;
    lines.push(`${env}=\${SSM_${name}-}; export ${env}`);
  }
  lines.push(
    'rs_dir=$(mktemp -d /tmp/router-switch.XXXXXX) || exit 1',
    'mkdir "$rs_dir/router-kinds" || exit 1',
  );
  return lines.join('\n');
}

/** The sh line that opens the here-document of one file. */
function openFile(name: string): string {
  return `cat >"$rs_dir/${name}" <<'${SCRIPT_END_MARKER}'`;
}

function epilogue(): string {
  return [`bash "$rs_dir/${COMMON_SCRIPT}" </dev/null`, 'rs_rc=$?', 'rm -rf "$rs_dir"', 'exit "$rs_rc"'].join(
    '\n',
  );
}

/**
 * A script file as the document carries it: without whole-line comments (the shebang kept) and blank
 * lines. The comments are for the reviewer of the repository; on the instance they only cost room
 * under the 64 KB limit, which all the router kinds share. The files hold no here-document or
 * multi-line string with a line starting with `#` (the integration tests run the document itself).
 */
export function compactScript(text: string): string {
  const lines = text.split('\n');
  const kept = lines.filter((line, i) => (i === 0 && line.startsWith('#!')) || !/^\s*(#.*)?$/.test(line));
  return `${kept.join('\n')}\n`;
}

function checkBody(name: string, text: string): string {
  const compact = compactScript(text);
  const body = compact.slice(0, -1);
  if (body.split('\n').includes(SCRIPT_END_MARKER)) {
    throw new Error(`the router script ${name} must not contain a line "${SCRIPT_END_MARKER}"`);
  }
  if (body.includes('{{'))
    throw new Error(`the router script ${name} must not contain "{{" (SSM would interpolate it)`);
  return body;
}

/** The file of the document of KIND, under infra/ssm. */
export function documentFileName(kind: string): string {
  return `router-switch-${kind}.json`;
}

/** The router kinds the script files provide (router-kinds/<kind>.sh), sorted. */
export function scriptKinds(files: RouterScriptFiles): string[] {
  return Object.keys(files)
    .flatMap((name) => /^router-kinds\/([a-z][a-z0-9]{0,31})\.sh$/.exec(name)?.[1] ?? [])
    .sort();
}

/** Builds the document of one router kind around the common part and that kind's file. */
export function buildRouterSwitchDocument(files: RouterScriptFiles, kind: string): CommandDocument {
  const kindFile = `router-kinds/${kind}.sh`;
  for (const name of [COMMON_SCRIPT, kindFile]) {
    if (files[name] === undefined) throw new Error(`the router scripts lack ${name}`);
  }
  const runCommand = [prelude()];
  for (const name of [COMMON_SCRIPT, kindFile]) {
    if (!FILE_NAME.test(name)) throw new Error(`unexpected router script name ${name}`);
    runCommand.push(openFile(name), checkBody(name, files[name]!), SCRIPT_END_MARKER);
  }
  runCommand.push(epilogue());
  const parameters: Record<string, DocumentParameterSpec> = {};
  for (const name of DOCUMENT_PARAMETER_NAMES) {
    const spec = DOCUMENT_PARAMETERS[name];
    const out: DocumentParameterSpec = { type: 'String', description: spec.description };
    if (spec.default !== undefined) out.default = spec.default;
    if (spec.allowedValues) out.allowedValues = [...spec.allowedValues];
    if (spec.allowedPattern) out.allowedPattern = spec.allowedPattern;
    if (name === 'RouterKind') {
      // This document carries one kind's code: it accepts that kind only.
      out.allowedValues = [kind];
      out.default = kind;
    }
    if (name !== 'ExecutionTimeout') out.interpolationType = 'ENV_VAR';
    parameters[name] = out;
  }
  return {
    schemaVersion: '2.2',
    description: `mysql-failover RouterSwitch (${kind}): points the local database router at a new primary, keeps fenced servers out, verifies, and rolls back on failure. Prints one JSON result line. Generated by scripts/build-ssm-document.mjs from infra/ssm/router-switch.sh and infra/ssm/router-kinds/${kind}.sh: edit those, not this.`,
    parameters,
    mainSteps: [
      {
        action: 'aws:runShellScript',
        name: STEP_NAME,
        precondition: { StringEquals: ['platformType', 'Linux'] },
        inputs: { timeoutSeconds: '{{ ExecutionTimeout }}', runCommand },
      },
    ],
  };
}

/** The document as stored in infra/ssm/router-switch-<kind>.json (JSON: the smallest form, see the 64 KB limit). */
export function renderDocumentJson(document: CommandDocument): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}

/** The script files carried by a document (compacted), by name, each with its final newline back. */
export function embeddedScripts(document: CommandDocument): Record<string, string> {
  const run = document.mainSteps[0]?.inputs.runCommand ?? [];
  const files: Record<string, string> = {};
  for (let i = 1; i + 2 < run.length; i += 3) {
    const name = /^cat >"\$rs_dir\/([^"]+)" <</.exec(run[i]!)?.[1];
    if (name === undefined || run[i + 2] !== SCRIPT_END_MARKER) break;
    files[name] = `${run[i + 1]}\n`;
  }
  if (files[COMMON_SCRIPT] === undefined) throw new Error('the document carries no script');
  return files;
}

const PARAMETER_TYPES = ['String', 'StringList', 'Boolean', 'Integer', 'MapList', 'StringMap'];
const COMMAND_ACTIONS = [
  'aws:runShellScript',
  'aws:runPowerShellScript',
  'aws:runDocument',
  'aws:downloadContent',
  'aws:configurePackage',
  'aws:softwareInventory',
  'aws:updateSsmAgent',
  'aws:applications',
  'aws:cloudWatch',
  'aws:configureDocker',
  'aws:domainJoin',
  'aws:psModule',
  'aws:refreshAssociation',
  'aws:runDockerAction',
  'aws:updateAgent',
];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Offline checks of a Command document against the SSM document syntax (schema 2.2): required keys,
 * parameter types, defaults that satisfy their own constraints, step names and actions, runShellScript
 * inputs, and every `{{ name }}` naming a declared parameter. Our own rule on top: every parameter has
 * an allowedPattern or allowedValues. Returns the problems found (empty: valid).
 */
export function validateCommandDocument(document: unknown): string[] {
  const problems: string[] = [];
  if (!isRecord(document)) return ['the document is not an object'];
  for (const key of Object.keys(document)) {
    if (!['schemaVersion', 'description', 'parameters', 'mainSteps', 'files'].includes(key)) {
      problems.push(`unknown top-level key ${key}`);
    }
  }
  if (document.schemaVersion !== '2.2') problems.push('schemaVersion must be the string "2.2"');
  if (document.description !== undefined && typeof document.description !== 'string') {
    problems.push('description must be a string');
  }
  const parameters = document.parameters ?? {};
  if (!isRecord(parameters)) problems.push('parameters must be an object');
  const declared = new Set<string>();
  if (isRecord(parameters)) {
    for (const [name, spec] of Object.entries(parameters)) {
      declared.add(name);
      const where = `parameter ${name}`;
      if (!/^[A-Za-z0-9_]{1,128}$/.test(name)) problems.push(`${where}: name must be letters, digits, _`);
      if (!isRecord(spec)) {
        problems.push(`${where}: must be an object`);
        continue;
      }
      for (const key of Object.keys(spec)) {
        const known = [
          'type',
          'description',
          'default',
          'allowedValues',
          'allowedPattern',
          'displayType',
          'minItems',
          'maxItems',
          'minChars',
          'maxChars',
          'interpolationType',
        ];
        if (!known.includes(key)) problems.push(`${where}: unknown key ${key}`);
      }
      if (typeof spec.type !== 'string' || !PARAMETER_TYPES.includes(spec.type)) {
        problems.push(`${where}: type must be one of ${PARAMETER_TYPES.join(', ')}`);
      }
      if (spec.description !== undefined && typeof spec.description !== 'string') {
        problems.push(`${where}: description must be a string`);
      }
      if (spec.interpolationType !== undefined) {
        if (spec.interpolationType !== 'ENV_VAR')
          problems.push(`${where}: interpolationType must be ENV_VAR`);
        if (spec.type !== 'String') problems.push(`${where}: interpolationType applies to String parameters`);
      }
      const values = spec.allowedValues;
      const pattern = spec.allowedPattern;
      if (values === undefined && pattern === undefined) {
        problems.push(`${where}: needs allowedPattern or allowedValues`);
      }
      if (values !== undefined && (!Array.isArray(values) || values.some((v) => typeof v !== 'string'))) {
        problems.push(`${where}: allowedValues must be a list of strings`);
      }
      let regex: RegExp | null = null;
      if (pattern !== undefined) {
        if (typeof pattern !== 'string') problems.push(`${where}: allowedPattern must be a string`);
        else {
          try {
            regex = new RegExp(pattern);
          } catch {
            problems.push(`${where}: allowedPattern does not compile`);
          }
          if (!pattern.startsWith('^') || !pattern.endsWith('$')) {
            problems.push(`${where}: allowedPattern must be anchored (^...$)`);
          }
        }
      }
      if (spec.default !== undefined) {
        if (spec.type === 'String' && typeof spec.default !== 'string') {
          problems.push(`${where}: default must be a string`);
        } else if (typeof spec.default === 'string') {
          if (Array.isArray(values) && !values.includes(spec.default)) {
            problems.push(`${where}: default is not one of allowedValues`);
          }
          if (regex && !regex.test(spec.default))
            problems.push(`${where}: default does not match allowedPattern`);
        }
      }
    }
  }
  const steps = document.mainSteps;
  if (!Array.isArray(steps) || steps.length === 0) {
    problems.push('mainSteps must be a non-empty list');
  } else {
    const names = new Set<string>();
    steps.forEach((step: unknown, index) => {
      const where = `mainSteps[${index}]`;
      if (!isRecord(step)) {
        problems.push(`${where}: must be an object`);
        return;
      }
      if (typeof step.action !== 'string' || !COMMAND_ACTIONS.includes(step.action)) {
        problems.push(`${where}: unknown action ${String(step.action)}`);
      }
      if (typeof step.name !== 'string' || !/^[A-Za-z0-9_.-]{1,128}$/.test(step.name)) {
        problems.push(`${where}: name must be letters, digits, _ . -`);
      } else if (names.has(step.name)) problems.push(`${where}: duplicate step name ${step.name}`);
      else names.add(step.name);
      if (!isRecord(step.inputs)) problems.push(`${where}: inputs must be an object`);
      else if (step.action === 'aws:runShellScript') {
        const run = step.inputs.runCommand;
        if (!Array.isArray(run) || run.length === 0 || run.some((line) => typeof line !== 'string')) {
          problems.push(`${where}: inputs.runCommand must be a non-empty list of strings`);
        }
        const timeout = step.inputs.timeoutSeconds;
        if (timeout !== undefined && typeof timeout !== 'string' && typeof timeout !== 'number') {
          problems.push(`${where}: inputs.timeoutSeconds must be a string or number`);
        }
      }
      if (step.precondition !== undefined) {
        const pre = step.precondition;
        const equals = isRecord(pre) ? pre.StringEquals : undefined;
        if (!Array.isArray(equals) || equals.length !== 2 || equals[0] !== 'platformType') {
          problems.push(
            `${where}: precondition must be { StringEquals: [platformType, Linux|Windows|MacOS] }`,
          );
        }
      }
    });
  }
  const size = Buffer.byteLength(JSON.stringify(document), 'utf8');
  if (size > DOCUMENT_BUDGET_BYTES) {
    problems.push(
      `the document is ${size} bytes; SSM allows ${MAX_DOCUMENT_BYTES} including parameter values`,
    );
  }
  const text = JSON.stringify(document.mainSteps ?? []);
  for (const match of text.matchAll(/\{\{\s*([^}\s]+)\s*\}\}/g)) {
    const name = match[1]!;
    if (!name.startsWith('ssm:') && !declared.has(name))
      problems.push(`{{ ${name} }} names no declared parameter`);
  }
  return problems;
}
