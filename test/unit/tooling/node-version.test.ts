/**
 * The tests, the sandbox, the benchmarks and the CLI run on Node 22, the version the function runs on
 * in Lambda (nodejs22.x), also on a machine whose own node is older: scripts/with-node.sh puts Node 22
 * first on PATH for every npm script, and the tools in bin/ start themselves again under it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { machinePath, majorOf, olderNode } from '../../harness/older-node.js';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const older = olderNode();
const scratch = mkdtempSync(join(tmpdir(), 'mf-node-version-'));

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  const child = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8', env, timeout: 60_000 });
  return { status: child.status, stdout: child.stdout ?? '', stderr: child.stderr ?? '' };
}

describe('Node 22 for the tests', () => {
  it('runs the tests on Node 22 or later', () => {
    expect(majorOf(process.version)).toBeGreaterThanOrEqual(22);
  });

  it('starts the same Node for a child spawned by name as for one spawned with process.execPath', () => {
    const byName = run('node', ['-p', 'process.version']);
    const byPath = run(process.execPath, ['-p', 'process.version']);
    expect(byName.stdout.trim()).toBe(process.version);
    expect(byPath.stdout.trim()).toBe(process.version);
  });

  it('prints the version the tests run on with npm run node-version', () => {
    const result = run('npm', ['run', '--silent', 'node-version'], {
      ...process.env,
      npm_config_update_notifier: 'false',
    });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe(process.version);
  });

  it('runs every npm script that starts node through scripts/with-node.sh', () => {
    const scripts = (
      JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
        scripts: Record<string, string>;
      }
    ).scripts;
    // Commands that start node themselves: run bare from a Node 20 shell they would run on Node 20.
    const nodeCommands = /^(node|npx|vitest|tsc|tsx|biome|osls|serverless|esbuild)\b/;
    const bare: string[] = [];
    for (const [name, script] of Object.entries(scripts)) {
      for (const part of script.split(/&&|\|\||;/)) {
        const command = part.trim().replace(/^(\w+=\S*\s+)+/, '');
        if (nodeCommands.test(command)) bare.push(`${name}: ${command}`);
      }
    }
    expect(bare).toEqual([]);
  });
});

describe('Node 22 declared alike', () => {
  it('names Node 22 in engines, @types/node, the esbuild target and the function runtime', async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      engines: { node: string };
      devDependencies: Record<string, string>;
    };
    expect(pkg.engines.node).toMatch(/^>=22(\.|$)/);
    expect(pkg.devDependencies['@types/node']).toMatch(/^\^22\./);
    // @ts-expect-error plain ESM module without types
    const { bundleOptions } = (await import('../../../scripts/esbuild-options.mjs')) as {
      bundleOptions: { target: string };
    };
    expect(bundleOptions.target).toBe('node22');
    const template = parse(readFileSync(join(ROOT, 'serverless.yml'), 'utf8')) as {
      provider: { runtime: string };
    };
    expect(template.provider.runtime).toBe('nodejs22.x');
  });
});

describe.skipIf(!older)(`on a machine whose node is older (${older?.version ?? 'none here'})`, () => {
  it('runs a command under Node 22 through scripts/with-node.sh, with that node first on PATH', () => {
    const env = { ...process.env, PATH: machinePath(ROOT) };
    expect(run('node', ['--version'], env).stdout.trim()).toBe(older?.version);
    const result = run('bash', ['scripts/with-node.sh', 'sh', '-c', 'node --version'], env);
    expect(result.status, result.stderr).toBe(0);
    expect(majorOf(result.stdout.trim())).toBeGreaterThanOrEqual(22);
  });

  it('runs a TypeScript tool started with the older node under Node 22, with its arguments and exit code', () => {
    const script = join(scratch, 'versions.ts');
    writeFileSync(
      script,
      [
        "import { execFileSync } from 'node:child_process';",
        "const child = execFileSync('node', ['--version'], { encoding: 'utf8' }).trim();",
        'console.log(JSON.stringify({ self: process.version, child, args: process.argv.slice(2) }));',
        'process.exitCode = 3;',
      ].join('\n'),
    );
    const result = run(older!.path, ['bin/run-ts.mjs', script, 'a', 'b c'], {
      ...process.env,
      PATH: machinePath(ROOT),
    });
    expect(result.status, result.stderr).toBe(3);
    const seen = JSON.parse(result.stdout.trim()) as { self: string; child: string; args: string[] };
    expect(majorOf(seen.self)).toBeGreaterThanOrEqual(22);
    expect(seen.child).toBe(seen.self);
    expect(seen.args).toEqual(['a', 'b c']);
  });

  it('runs vitest started with the older node (npx vitest from a Node 20 shell) under Node 22', () => {
    const probe = 'data:text/javascript,console.error("node-version-probe " + process.version)';
    const vitest = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
    const result = run(older!.path, ['--import', probe, vitest, 'list', 'test/unit/core/gtid.test.ts'], {
      ...process.env,
      PATH: machinePath(ROOT),
    });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/gtid\.test\.ts/);
    const probes = [...result.stderr.matchAll(/node-version-probe (v[\d.]+)/g)].map((m) => m[1]!);
    expect(probes[0]).toBe(older?.version);
    expect(probes.slice(1).length).toBeGreaterThan(0);
    for (const version of probes.slice(1)) expect(majorOf(version)).toBeGreaterThanOrEqual(22);
  });

  it('runs the repl-watchdog CLI started with the older node under Node 22, keeping its node options', () => {
    // --import runs in every process started with it: the older node first, then the Node 22 one.
    const probe = 'data:text/javascript,console.error("node-version-probe " + process.version)';
    const result = run(older!.path, ['--import', probe, 'bin/repl-watchdog.mjs', '--help'], {
      ...process.env,
      PATH: machinePath(ROOT),
    });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^repl-watchdog/);
    const probes = [...result.stderr.matchAll(/node-version-probe (v[\d.]+)/g)].map((m) => m[1]!);
    expect(probes.some((v) => majorOf(v) >= 22)).toBe(true);
    expect(result.stderr).not.toMatch(/NodeVersionSupportWarning/);
  });
});
