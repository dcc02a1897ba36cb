/**
 * The router script's own defences, taken from the SSM document: values that never pass SSM's
 * allowedPattern are handed to it anyway (as if the document's checks were bypassed) and must be refused
 * without being evaluated; and the prelude's fallback for agents without ENV_VAR interpolation works.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runDocumentAsAgent } from '../fixtures/routers/agent.js';

let dir: string;
let configPath: string;
let canary: string;
let original: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rs-script-'));
  configPath = join(dir, 'mysqlrouter.conf');
  canary = join(dir, 'owned');
  original = readFileSync(
    new URL('../fixtures/routers/mysqlrouter-read-write.conf', import.meta.url),
    'utf8',
  );
  writeFileSync(configPath, original);
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const env = () => ({ RS_SETTINGS_FILE: '', RS_BACKUP_DIR: join(dir, 'backups'), RS_APPLY_COMMAND: 'true' });

describe('router script defences', () => {
  it('refuses hostile values that bypassed the document patterns, without evaluating them', async () => {
    const hostile = [
      `10.0.0.12:3306; touch ${canary}`,
      `$(touch ${canary})`,
      `\`touch ${canary}\``,
      `10.0.0.12:3306\ntouch ${canary}`,
      `10.0.0.12:3306' ; touch ${canary}; '`,
      `10.0.0.12:3306" ; touch ${canary}; "`,
      `10.0.0.12:3306 | touch ${canary}`,
      `${'a'.repeat(300)}:3306`,
    ];
    const parameters = [
      'Destinations',
      'Fenced',
      'Section',
      'ConfigPath',
      'ServiceName',
      'VerifyAddress',
      'VerifyDefaultsFile',
    ];
    // Every hostile value against two parameters each (the patterns themselves are proven identical to
    // the document's and exercised exhaustively in the unit tests).
    for (const [i, value] of hostile.entries()) {
      for (const name of [parameters[i % parameters.length]!, parameters[(i + 3) % parameters.length]!]) {
        const run = await runDocumentAsAgent(
          {
            RouterKind: 'mysqlrouter',
            ConfigPath: configPath,
            ApplyMode: 'command',
            Destinations: '10.0.0.12:3306',
            [name]: value,
          },
          env(),
          { validate: false, allowDirs: [dir] },
        );
        expect(run.exitCode, `${name}=${JSON.stringify(value)}`).toBe(2);
        expect(run.result?.message).toMatch(/^invalid /);
      }
    }
    for (const [name, value] of [
      ['RouterKind', `haproxy; touch ${canary}`],
      ['Action', `$(touch ${canary})`],
      ['DryRun', 'yes'],
      ['ApplyMode', `command; touch ${canary}`],
      ['VerifyTimeoutSeconds', `1; touch ${canary}`],
    ] as const) {
      const run = await runDocumentAsAgent(
        { RouterKind: 'mysqlrouter', ConfigPath: configPath, Destinations: '10.0.0.12:3306', [name]: value },
        env(),
        { validate: false, allowDirs: [dir] },
      );
      expect(run.exitCode, name).toBe(2);
    }
    expect(existsSync(canary)).toBe(false);
    expect(readFileSync(configPath, 'utf8')).toBe(original);
  });

  it('refuses to run, changing nothing, on an agent without ENV_VAR interpolation', async () => {
    const run = await runDocumentAsAgent(
      {
        RouterKind: 'mysqlrouter',
        ConfigPath: configPath,
        ApplyMode: 'command',
        Destinations: '10.0.0.12:3306',
      },
      env(),
      { envVars: false, allowDirs: [dir] },
    );
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain('needs SSM Agent 3.3.2746.0 or later');
    expect(run.result).toMatchObject({ ok: false, changed: false });
    expect(readFileSync(configPath, 'utf8')).toBe(original);
  });

  it('prints exactly one JSON line on stdout and keeps its diagnostics on stderr', async () => {
    const run = await runDocumentAsAgent(
      {
        RouterKind: 'mysqlrouter',
        ConfigPath: configPath,
        ApplyMode: 'command',
        Destinations: '10.0.0.12:3306',
      },
      env(),
      { allowDirs: [dir] },
    );
    const lines = run.stdout.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ schema: 'router-switch/1', ok: true });
    expect(run.stderr).toContain('verification skipped');
  });
});
