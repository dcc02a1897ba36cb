/**
 * The repl-watchdog command line, run as a separate process the way an operator runs it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';

const run = promisify(execFile);

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('node', ['bin/repl-watchdog.mjs', ...args], {
      env: { ...process.env, CONFIG_FILE: '', MF_CONFIG: '', CONFIG_SSM_PATH: '' },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

let cluster: Cluster;
let configPath: string;

beforeAll(async () => {
  cluster = await startCluster({ servers: 2, groups: 2, name: 'cli' });
  configPath = cluster.configFile();
});

afterAll(async () => {
  await cluster?.stop();
});

describe('repl-watchdog', () => {
  it('prints its help with every command', async () => {
    const { code, stdout } = await cli(['--help']);
    expect(code).toBe(0);
    for (const command of [
      '--now',
      'status',
      'sandbox',
      'routers switch',
      'maintenance start',
      'dump',
      'restore',
      '--config',
      '--json',
    ]) {
      expect(stdout).toContain(command);
    }
  });

  it('shows servers, replication, routers and the analysis with status', async () => {
    const { code, stdout } = await cli(['status', '--config', configPath]);
    expect(code).toBe(0);
    const [primary, replica] = cluster.servers;
    expect(stdout).toContain(`${primary!.address}  primary`);
    expect(stdout).toMatch(new RegExp(`${replica!.address}\\s+replica .*io=Yes sql=Yes`));
    expect(stdout).toMatch(/g1\s+127\.0\.0\.1:\d+\s+127\.0\.0\.1/);
    expect(stdout).toContain('ongoing operation: none');
    expect(stdout).toContain('analysis: Ok');
  });

  it('runs one cycle per group with --now and prints JSON with --json', async () => {
    const { code, stdout } = await cli(['--now', '--config', configPath, '--json', '--dry-run']);
    expect(code).toBe(0);
    const reports = JSON.parse(stdout) as Array<{
      group: string;
      analysis: { code: string };
      dryRun: boolean;
    }>;
    expect(reports.map((r) => r.group)).toEqual(['g1', 'g2']);
    expect(reports.every((r) => r.analysis.code === 'Ok' && r.dryRun)).toBe(true);
  });

  it('exits 2 with the key and value on a bad configuration', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mf-cli-'));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ clusterName: 'x', servers: ['127.0.0.1:1'], groups: [] }));
    const { code, stderr } = await cli(['status', '--config', bad]);
    expect(code).toBe(2);
    expect(stderr).toContain('servers: needs at least two servers');
    expect(stderr).toContain('groups: needs at least one backend group');
    expect(stderr).not.toContain('    at ');
  });

  it('exits 2 on an unknown option or command, with the help', async () => {
    const unknownOption = await cli(['--explode']);
    expect(unknownOption.code).toBe(2);
    expect(unknownOption.stderr).toContain("Unknown option '--explode'");
    const unknownCommand = await cli(['frobnicate', '--config', configPath]);
    expect(unknownCommand.code).toBe(2);
    expect(unknownCommand.stderr).toContain('unknown command "frobnicate"');
  });
});

describe('repl-watchdog maintenance', () => {
  it('starts, lists and ends a maintenance window from the command line, stored on every server', async () => {
    const [, db2] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
    const start = await cli([
      'maintenance',
      'start',
      '--server',
      db2.address,
      '--reason',
      'nightly backup',
      '--minutes',
      '15',
      '--config',
      configPath,
    ]);
    expect(start.code, start.stderr).toBe(0);
    expect(start.stdout).toContain(`maintenance started: ${db2.address}`);
    for (const s of cluster.servers) expect(start.stdout).toContain(s.address);
    const list = await cli(['maintenance', 'list', '--json', '--config', configPath]);
    expect(JSON.parse(list.stdout).active).toMatchObject([{ scope: db2.address, reason: 'nightly backup' }]);
    const end = await cli(['maintenance', 'end', '--server', db2.address, '--config', configPath]);
    expect(end.code, end.stderr).toBe(0);
    expect((await cli(['maintenance', 'list', '--config', configPath])).stdout).toContain(
      'no maintenance window in force',
    );
    const refused = await cli(['maintenance', 'start', '--cluster', '--config', configPath]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('needs a reason');
  });
});
