/**
 * The router script, taken from the SSM document and run the way the SSM Agent runs it, against real
 * mysqlrouter.conf files in both styles. Here the restart is a recording command (ApplyMode command,
 * configured in the instance's settings file) or a recording `systemctl` on PATH (ApplyMode systemd), and
 * the config files are checked byte for byte; a real MySQL Router 9.7 starts on the rewritten seed-style
 * file (the last test), and real routers are switched in the failover, drill, election and chaos tests.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mysqlCommand, requireMysqlInstall } from '../../functions/sandbox/harness/mysql-install.js';
import { freePort } from '../../functions/sandbox/harness/ports.js';
import { runDocumentAsAgent } from '../fixtures/routers/agent.js';
import { MYSQL_SKIP_REASON } from '../harness/flavors.js';

const FIXTURES = new URL('../fixtures/routers/', import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, FIXTURES), 'utf8');

let dir: string;
let configPath: string;
let restartLog: string;
let settingsPath: string;

function install(name: string): string {
  const text = fixture(name);
  writeFileSync(configPath, text, { mode: 0o640 });
  return text;
}

function writeSettings(applyCommand: string): void {
  writeFileSync(
    settingsPath,
    [
      '# /etc/mysql-failover/router-switch.env on the instance',
      `RS_APPLY_COMMAND='${applyCommand}'`,
      `RS_BACKUP_DIR=${join(dir, 'backups')}`,
    ].join('\n'),
    { mode: 0o600 },
  );
}

function restarts(): string[] {
  try {
    return readFileSync(restartLog, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const run = (parameters: Record<string, string>, env: Record<string, string> = {}) =>
  runDocumentAsAgent(
    {
      RouterKind: 'mysqlrouter',
      ConfigPath: configPath,
      Section: 'mysql_failover',
      ApplyMode: 'command',
      ...parameters,
    },
    { RS_SETTINGS_FILE: settingsPath, ...env },
    { allowDirs: [dir] },
  );

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rs-mysqlrouter-'));
  configPath = join(dir, 'mysqlrouter.conf');
  restartLog = join(dir, 'restarts.log');
  settingsPath = join(dir, 'router-switch.env');
  writeSettings(`echo "restart $RS_ROUTER_KIND $RS_CONFIG_PATH" >> ${restartLog}`);
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('router script on MySQL Router configs', () => {
  it('rewrites the destinations of the named read-write section, replaces the mode 8.4 removed, and restarts the router', async () => {
    const original = install('mysqlrouter-read-write.conf');
    const result = await run({ Destinations: '10.0.0.12:3306', Fenced: '10.0.0.11:3306' });

    expect(result.exitCode).toBe(0);
    expect(readFileSync(configPath, 'utf8')).toBe(
      original.replace(
        'destinations = 10.0.0.11:3306,10.0.0.12:3306\nmode = read-write',
        'destinations = 10.0.0.12:3306\nrouting_strategy = first-available',
      ),
    );
    // The read-only section keeps its mode: it is not ours to change.
    expect(readFileSync(configPath, 'utf8')).toContain('mode = read-only');
    // The other section still lists the old primary: it is not ours to change.
    expect(readFileSync(configPath, 'utf8')).toContain(
      'bind_port = 7002\ndestinations = 10.0.0.11:3306,10.0.0.12:3306',
    );
    expect(statSync(configPath).mode & 0o777).toBe(0o640);
    expect(restarts()).toEqual([`restart mysqlrouter ${configPath}`]);
    expect(result.result).toMatchObject({
      ok: true,
      kind: 'mysqlrouter',
      changed: true,
      applied: 'command',
      previous: ['10.0.0.11:3306', '10.0.0.12:3306'],
      destinations: ['10.0.0.12:3306'],
      fenced: ['10.0.0.11:3306'],
      verify: { status: 'skipped', through: '127.0.0.1:7001' },
    });
    // The backup is the original file.
    expect(readFileSync(result.result!.backup, 'utf8')).toBe(original);
  });

  it('keeps the order for next-available too, and warns that it stays on the fallback after one blip', async () => {
    const original = install('mysqlrouter-first-available.conf').replace(
      'destinations=10.0.0.11:3306, 10.0.0.12:3306, 10.0.0.13:3306\nrouting_strategy=first-available',
      'destinations=10.0.0.11:3306, 10.0.0.12:3306, 10.0.0.13:3306\nrouting_strategy=next-available',
    );
    writeFileSync(configPath, original, { mode: 0o640 });
    const result = await run({ Destinations: '10.0.0.12:3306,10.0.0.13:3306', Fenced: '10.0.0.11:3306' });

    expect(result.exitCode).toBe(0);
    expect(readFileSync(configPath, 'utf8')).toContain(
      'destinations=10.0.0.12:3306,10.0.0.13:3306\nrouting_strategy=next-available',
    );
    expect(result.result?.warnings.join('\n')).toMatch(
      /next-available.*stays on 10\.0\.0\.13:3306 until restarted/,
    );
  });

  it('keeps the order of the remaining destinations in a first-available section, comments and all', async () => {
    const original = install('mysqlrouter-first-available.conf');
    const result = await run({ Destinations: '10.0.0.12:3306,10.0.0.13:3306', Fenced: '10.0.0.11:3306' });

    expect(result.exitCode).toBe(0);
    expect(readFileSync(configPath, 'utf8')).toBe(
      original.replace(
        'destinations=10.0.0.11:3306, 10.0.0.12:3306, 10.0.0.13:3306',
        'destinations=10.0.0.12:3306,10.0.0.13:3306',
      ),
    );
    expect(readFileSync(configPath, 'utf8')).toContain('# primary first; the replicas only take over');
    expect(readFileSync(configPath, 'utf8')).toContain('destinations=10.0.0.11:33060');
    expect(result.result?.verify.through).toBe('127.0.0.1:6446');
    expect(restarts()).toHaveLength(1);
  });

  it('changes nothing and restarts nothing when the destinations are already in place', async () => {
    install('mysqlrouter-first-available.conf');
    const parameters = { Destinations: '10.0.0.12:3306,10.0.0.13:3306', Fenced: '10.0.0.11:3306' };
    expect((await run(parameters)).exitCode).toBe(0);
    const after = readFileSync(configPath, 'utf8');
    const mtime = statSync(configPath).mtimeMs;

    const again = await run(parameters);
    expect(again.exitCode).toBe(0);
    expect(again.result).toMatchObject({ ok: true, changed: false, alreadyInPlace: true, backup: '' });
    expect(again.result?.message).toContain('already in place');
    expect(readFileSync(configPath, 'utf8')).toBe(after);
    expect(statSync(configPath).mtimeMs).toBe(mtime);
    expect(restarts()).toHaveLength(1);
  });

  it('restarts through systemd by default', async () => {
    install('mysqlrouter-read-write.conf');
    const bin = join(dir, 'bin');
    const calls = join(dir, 'systemctl.log');
    rmSync(settingsPath);
    writeFileSync(settingsPath, `RS_BACKUP_DIR=${join(dir, 'backups')}\n`, { mode: 0o600 });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(bin);
    writeFileSync(join(bin, 'systemctl'), `#!/bin/sh\necho "$*" >> ${calls}\n`, { mode: 0o755 });
    const env = { PATH: `${bin}:${process.env.PATH}` };

    const result = await run({ Destinations: '10.0.0.12:3306', ApplyMode: 'auto' }, env);
    expect(result.exitCode).toBe(0);
    expect(result.result?.applied).toBe('systemd');
    const unit = await run(
      { Destinations: '10.0.0.11:3306', ApplyMode: 'systemd', ServiceName: 'mysqlrouter@web' },
      env,
    );
    expect(unit.exitCode).toBe(0);
    expect(readFileSync(calls, 'utf8').split('\n').filter(Boolean)).toEqual([
      'restart -- mysqlrouter',
      'restart -- mysqlrouter@web',
    ]);
  });

  it('restores the backup without the fenced server and restarts again when the restart fails', async () => {
    const original = install('mysqlrouter-read-write.conf');
    // Fails the first time (on the new config), succeeds on the restored one.
    const marker = join(dir, 'failed-once');
    writeSettings(
      `echo "restart $(grep -c 10.0.0.11 $RS_CONFIG_PATH)" >> ${restartLog}; [ -f ${marker} ] || { touch ${marker}; exit 1; }`,
    );
    const result = await run({ Destinations: '10.0.0.12:3306', Fenced: '10.0.0.11:3306' });

    expect(result.exitCode).toBe(4);
    expect(result.result).toMatchObject({ ok: false, rolledBack: true, changed: false });
    // The previous config, but the fenced server never comes back among the section's destinations;
    // the other section is untouched.
    const lines = original.split('\n');
    const first = lines.indexOf('destinations = 10.0.0.11:3306,10.0.0.12:3306');
    lines[first] = 'destinations = 10.0.0.12:3306';
    expect(readFileSync(configPath, 'utf8')).toBe(lines.join('\n'));
    // First restart on the new file, second on the restored one: the old primary in the other section only.
    expect(restarts()).toEqual(['restart 1', 'restart 1']);
  });

  it('makes the new primary the only destination when the strategy is not ordered', async () => {
    install('mysqlrouter-round-robin.conf');
    const result = await run({ Destinations: '10.0.0.12:3306,10.0.0.13:3306', Fenced: '10.0.0.11:3306' });
    expect(result.exitCode).toBe(0);
    expect(readFileSync(configPath, 'utf8')).toContain('destinations=10.0.0.12:3306\n');
    expect(result.result?.warnings.join(' ')).toContain("routing strategy 'round-robin' is not ordered");
  });

  it('refuses a section fed by the InnoDB Cluster metadata cache and leaves it alone', async () => {
    const original = install('mysqlrouter-metadata-cache.conf');
    const result = await run({ Destinations: '10.0.0.12:3306' });
    expect(result.exitCode).toBe(1);
    expect(result.result?.message).toContain('metadata cache');
    expect(readFileSync(configPath, 'utf8')).toBe(original);
    expect(restarts()).toEqual([]);
  });

  it('touches nothing on a dry run', async () => {
    const original = install('mysqlrouter-read-write.conf');
    const result = await run({ Destinations: '10.0.0.12:3306', Fenced: '10.0.0.11:3306', DryRun: 'true' });
    expect(result.exitCode).toBe(0);
    expect(result.result).toMatchObject({ ok: true, dryRun: true, changed: false, validated: true });
    expect(readFileSync(configPath, 'utf8')).toBe(original);
    expect(restarts()).toEqual([]);
    expect(readdirSync(dir).filter((f) => f.startsWith('.mysqlrouter.conf'))).toEqual([]);
  });

  it('reports the current destinations for status', async () => {
    install('mysqlrouter-first-available.conf');
    const result = await run({ Action: 'status' });
    expect(result.exitCode).toBe(0);
    expect(result.result).toMatchObject({
      action: 'status',
      destinations: ['10.0.0.11:3306', '10.0.0.12:3306', '10.0.0.13:3306'],
    });
  });

  it('reports a router it could neither switch nor restore as needing a human', async () => {
    const original = install('mysqlrouter-read-write.conf');
    writeSettings(`echo restart >> ${restartLog}; exit 1`);
    const result = await run({ Destinations: '10.0.0.12:3306' });
    expect(result.exitCode).toBe(6);
    expect(result.result?.message).toContain('needs a human');
    expect(readFileSync(configPath, 'utf8')).toBe(original);
    expect(restarts()).toEqual(['restart', 'restart']);
  });

  it('ignores a settings file that others could have written', async () => {
    const original = install('mysqlrouter-read-write.conf');
    chmodSync(settingsPath, 0o666);
    const result = await run({ Destinations: '10.0.0.12:3306' });
    // Without the (ignored) command there is no way to restart: the file is restored, nothing ran.
    expect(result.exitCode).toBe(6);
    expect(result.result?.warnings.join(' ')).toContain('ignoring');
    expect(readFileSync(configPath, 'utf8')).toBe(original);
    expect(restarts()).toEqual([]);
  });
});

describe.skipIf(MYSQL_SKIP_REASON !== null)('router script and a real MySQL Router 9.7', () => {
  async function startsRealRouter(config: string): Promise<{ started: boolean; log: string }> {
    const install = requireMysqlInstall();
    const extra = join(dir, 'local.conf');
    writeFileSync(
      extra,
      `[DEFAULT]\nlogging_folder = ${dir}\nruntime_folder = ${dir}\ndata_folder = ${dir}\nplugin_folder = ${join(install.prefix, 'usr/lib/mysqlrouter/plugin')}\nuser = root\n`,
    );
    const [command, ...args] = mysqlCommand(install, 'usr/bin/mysqlrouter', ['-c', config, '-a', extra]);
    const child = spawn(command!, args, { stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const port = Number(/bind_address = 127\.0\.0\.1:(\d+)/.exec(readFileSync(config, 'utf8'))?.[1]);
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && child.exitCode === null) {
        if (await listening(port)) return { started: true, log: '' };
        await new Promise((r) => setTimeout(r, 100));
      }
      return { started: false, log: readFileSync(join(dir, 'mysqlrouter.log'), 'utf8').slice(-1000) };
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  }

  it('leaves a seed-style read-write section that MySQL Router 9.7 starts on (mode was removed in 8.4)', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const text = fixture('mysqlrouter-read-write.conf')
      .replace('0.0.0.0:7001', `127.0.0.1:${a}`)
      .replace('bind_port = 7002', `bind_port = ${b}`)
      .replace('bind_address = 0.0.0.0\n', 'bind_address = 127.0.0.1\n')
      .replace('mode = read-only', 'routing_strategy = round-robin');
    writeFileSync(configPath, text, { mode: 0o640 });
    const result = await run({ Destinations: '127.0.0.1:1', Fenced: '127.0.0.1:2' });
    expect(result.exitCode).toBe(0);
    expect(await startsRealRouter(configPath)).toEqual({ started: true, log: '' });
  });
});
