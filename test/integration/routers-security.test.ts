/**
 * The root boundary of the router script on a backend (issue 13, findings 3-8 and the Low items): what
 * a caller of the SSM document, or a careless operator, can make root do. Each case runs the script taken
 * from the SSM document the way the agent does, against real HAProxy and MariaDB where one is involved,
 * and shows what happens now.
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LocalRouterSwitch } from '../../functions/routers/local.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import { runDocumentAsAgent } from '../fixtures/routers/agent.js';

const FAKE_PROXYSQL = fileURLToPath(new URL('../fixtures/routers/fake-proxysql-admin.py', import.meta.url));

let cluster: Cluster;
let dir: string;
let verifyDefaults: string;
const db1 = () => cluster.servers[0]!;
const db2 = () => cluster.servers[1]!;

beforeAll(async () => {
  cluster = await startCluster({
    servers: 2,
    groups: 1,
    routersPerGroup: 1,
    routerMode: 'failback',
    name: 'rsec',
  });
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rs-security-'));
  verifyDefaults = join(dir, 'verify.cnf');
  const { user, password } = cluster.credentials.watchdog;
  writeFileSync(verifyDefaults, `[client]\nuser=${user}\npassword=${password}\n`, { mode: 0o600 });
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function haproxyConfig(port: number, servers: string[], extraGlobal = ''): string {
  return [
    'global',
    `    pidfile ${join(dir, 'haproxy.pid')}`,
    extraGlobal,
    'defaults',
    '    mode tcp',
    '    timeout connect 2s',
    '    timeout client 30s',
    '    timeout server 30s',
    'listen mysql_failover',
    `    bind 127.0.0.1:${port}`,
    ...servers.map((s, i) => `    server s${i + 1} ${s} check inter 500ms${i > 0 ? ' backup' : ''}`),
    '',
  ].join('\n');
}

const run = (
  parameters: Record<string, string>,
  env: Record<string, string> = {},
  options: { validate?: boolean } = {},
) =>
  runDocumentAsAgent(
    { RouterKind: 'haproxy', Section: 'mysql_failover', VerifyTimeoutSeconds: '5', ...parameters },
    { RS_SETTINGS_FILE: '', RS_BACKUP_DIR: join(dir, 'backups'), ...env },
    { allowDirs: [dir], ...options },
  );

/** A shared object whose constructor leaves MARKER behind: what a hostile plugin would run as root. */
function hostilePlugin(marker: string): string {
  const plugins = join(dir, 'plugins');
  mkdirSync(plugins);
  const source = join(dir, 'evil.c');
  writeFileSync(
    source,
    `#include <fcntl.h>\n#include <unistd.h>\n__attribute__((constructor)) static void owned(void) { int fd = open("${marker}", O_CREAT | O_WRONLY, 0600); if (fd >= 0) close(fd); }\n`,
  );
  execFileSync('gcc', ['-shared', '-fPIC', '-o', join(plugins, 'evil.so'), source]);
  return plugins;
}

describe('router script root boundary', () => {
  it('never lets a defaults file load a client plugin as root, even for Action=status (finding 3)', async () => {
    const marker = join(dir, 'plugin-ran');
    const plugins = hostilePlugin(marker);
    const { user, password } = cluster.credentials.watchdog;
    writeFileSync(
      verifyDefaults,
      `[client]\nuser=${user}\npassword=${password}\nplugin-dir=${plugins}\ndefault-auth=evil\n`,
      { mode: 0o600 },
    );
    const config = join(dir, 'haproxy.cfg');
    writeFileSync(config, haproxyConfig(1, [db1().address]));
    const result = await run({
      Action: 'status',
      ConfigPath: config,
      VerifyDefaultsFile: verifyDefaults,
      VerifyAddress: db1().address,
    });
    expect(existsSync(marker)).toBe(false);
    // The login itself still works: it was read as data, and the rest named and ignored.
    expect(result.result?.verify.status).toBe('answered');
    expect(result.result?.verify.answered).toMatch(new RegExp(`^1 ${db1().port} `));
    expect(result.result?.warnings.join(' ')).toContain('plugin-dir default-auth');
  });

  it('refuses path parameters outside the allowed folders, devices, links out, and files others may change (findings 3, 6)', async () => {
    const config = join(dir, 'haproxy.cfg');
    writeFileSync(config, haproxyConfig(1, [db1().address]));
    const outside = mkdtempSync(join(tmpdir(), 'rs-outside-'));
    try {
      writeFileSync(join(outside, 'x.cnf'), '[client]\nuser=root\n');
      symlinkSync(join(outside, 'x.cnf'), join(dir, 'link.cnf'));
      const groupWritable = join(dir, 'group-writable.cnf');
      writeFileSync(groupWritable, '[client]\nuser=root\n');
      chmodSync(groupWritable, 0o664);
      const cases: [Record<string, string>, RegExp][] = [
        [{ ConfigPath: '/dev/zero' }, /not in a folder/],
        [{ ConfigPath: join(outside, 'x.cnf') }, /not in a folder/],
        [{ ConfigPath: config, VerifyDefaultsFile: join(outside, 'x.cnf') }, /not in a folder/],
        [{ ConfigPath: config, VerifyDefaultsFile: join(dir, 'link.cnf') }, /outside the folders/],
        [{ ConfigPath: config, VerifyDefaultsFile: groupWritable }, /not writable by group or others/],
        [{ ConfigPath: config, ServiceName: 'reboot.target' }, /invalid ServiceName/],
        [{ ConfigPath: config, Destinations: 'db1:03306' }, /invalid Destinations/],
      ];
      for (const [parameters, message] of cases) {
        // validate: false: as if SSM's own checks had been bypassed; the script must hold on its own.
        const result = await run({ Destinations: db2().address, ...parameters }, {}, { validate: false });
        expect(result.exitCode, JSON.stringify(parameters)).toBe(2);
        expect(result.result?.message, JSON.stringify(parameters)).toMatch(message);
      }
      // A folder others may write to: its files are not trusted either.
      chmodSync(dir, 0o777);
      const loose = await run({ ConfigPath: config, Destinations: db2().address }, {}, { validate: false });
      expect(loose.result?.message).toMatch(/folder of ConfigPath .* not writable by group or others/);
    } finally {
      chmodSync(dir, 0o700);
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('runs haproxy -c only when the Lua a config loads is a file only root can change (finding 3)', async () => {
    const marker = join(dir, 'lua-ran');
    const lua = join(dir, 'hook.lua');
    writeFileSync(lua, `local f = io.open("${marker}", "w"); if f then f:close() end\n`);
    chmodSync(lua, 0o666);
    const config = join(dir, 'haproxy.cfg');
    writeFileSync(config, haproxyConfig(1, [db1().address], `    lua-load ${lua}`));
    const result = await run({ ConfigPath: config, Destinations: db2().address, DryRun: 'true' });
    expect(result.exitCode).toBe(3);
    expect(result.result?.message).toContain(`lua-load ${lua} is not a root-owned file`);
    expect(existsSync(marker)).toBe(false);
    // The same file once only root can change it: haproxy -c runs (and so does the operator's Lua).
    chmodSync(lua, 0o644);
    const trusted = await run({ ConfigPath: config, Destinations: db2().address, DryRun: 'true' });
    expect(trusted.exitCode).toBe(0);
    expect(trusted.result?.validated).toBe(true);
  });

  it('never replays a ProxySQL backup through client commands: a \\! in a comment stays text (finding 4)', async () => {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    symlinkSync(FAKE_PROXYSQL, join(bin, 'mariadb'));
    const adminDefaults = join(dir, 'proxysql-admin.cnf');
    writeFileSync(adminDefaults, '[client]\nhost=127.0.0.1\nport=6032\nuser=radmin\npassword=radmin\n', {
      mode: 0o600,
    });
    const marker = join(dir, 'shell-ran');
    const env = {
      PATH: `${bin}:${process.env.PATH}`,
      FAKE_PROXYSQL_DB: join(dir, 'proxysql.db'),
      FAKE_PROXYSQL_LOG: join(dir, 'admin.log'),
    };
    // A comment SQLite's quote() leaves with a backslash before the closing quote: the client would
    // read the rest as outside a string, and run `\! touch MARKER`.
    const comment = `x\\'); \\! touch ${marker}\n-- `;
    const quoted = `'${comment.replaceAll("'", "''")}'`;
    execFileSync(FAKE_PROXYSQL, ['--no-defaults', '--binary-mode'], {
      input: `INSERT INTO mysql_servers (hostgroup_id, hostname, port, comment) VALUES (10, '10.0.0.11', 3306, ${quoted});\nINSERT INTO mysql_servers (hostgroup_id, hostname, port) VALUES (10, '10.0.0.12', 3306);\nLOAD MYSQL SERVERS TO RUNTIME;\n`,
      env: { ...process.env, ...env },
    });
    const result = await run(
      {
        RouterKind: 'proxysql',
        ConfigPath: adminDefaults,
        Section: '10',
        Destinations: '10.0.0.12:3306',
        Fenced: '10.0.0.11:3306',
      },
      { ...env, FAKE_PROXYSQL_FAIL: 'INSERT OR IGNORE INTO mysql_servers' },
    );
    expect(result.exitCode).toBe(4);
    expect(result.result?.rolledBack).toBe(true);
    expect(existsSync(marker)).toBe(false);
    const rows = execFileSync(FAKE_PROXYSQL, ['--no-defaults', '--binary-mode'], {
      input: "SELECT hex(comment) FROM mysql_servers WHERE hostname='10.0.0.11';",
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });
    expect(rows.trim()).toBe(Buffer.from(comment).toString('hex').toUpperCase());
  });

  it('rolls back without making the fenced old primary active again (finding 7)', async () => {
    const router = cluster.groups[0]!.routers[0]!;
    const before = readFileSync(router.configPath, 'utf8');
    // A destination that never answers: verification fails and the script rolls back.
    const result = await runDocumentAsAgent(
      {
        RouterKind: 'haproxy',
        ConfigPath: router.configPath,
        Section: 'mysql_failover',
        Destinations: `127.0.0.1:${db2().port + 17}`,
        Fenced: db1().address,
        VerifyDefaultsFile: verifyDefaults,
        VerifyTimeoutSeconds: '3',
      },
      { RS_SETTINGS_FILE: '', RS_BACKUP_DIR: join(dir, 'backups') },
      { allowDirs: [dir, router.baseDir] },
    );
    try {
      expect(result.exitCode).toBe(5);
      expect(result.result?.rolledBack).toBe(true);
      const restored = readFileSync(router.configPath, 'utf8');
      const fencedLine = restored.split('\n').find((line) => line.includes(` ${db1().address}`));
      expect(fencedLine).toMatch(/ disabled/);
      expect(before.split('\n').find((line) => line.includes(` ${db1().address}`))).not.toMatch(/ disabled/);
    } finally {
      writeFileSync(router.configPath, before);
    }
  });

  it('never deletes the backup it has just made, whatever the mtimes say (finding 8)', async () => {
    const config = join(dir, 'haproxy.cfg');
    writeFileSync(config, haproxyConfig(1, [db1().address]));
    // cp -p keeps the config's old mtime: the new backup looks like the oldest of 21.
    const old = new Date('2001-01-01T00:00:00Z');
    utimesSync(config, old, old);
    const backups = join(dir, 'backups');
    mkdirSync(backups);
    const key = `haproxy.cfg.${execFileSync('sh', ['-c', `printf '%s' '${config}' | cksum | cut -d ' ' -f 1`], { encoding: 'utf8' }).trim()}`;
    for (let i = 0; i < 20; i++)
      writeFileSync(
        join(backups, `${key}.20200101T0000${String(i).padStart(2, '0')}000000000Z.bak`),
        'old\n',
      );
    // The apply fails once (on the new config): the rollback needs the backup.
    const once = join(dir, 'failed-once');
    const result = await run(
      { ConfigPath: config, Destinations: db2().address, ApplyMode: 'command' },
      { RS_APPLY_COMMAND: `[ -f ${once} ] || { touch ${once}; exit 1; }` },
    );
    expect(result.exitCode).toBe(4);
    expect(result.result?.rolledBack).toBe(true);
    expect(existsSync(result.result!.backup)).toBe(true);
    expect(readdirSync(backups).filter((f) => f.endsWith('.bak'))).toHaveLength(20);
  });
});

describe('router script on configs it must not rewrite blindly (Low)', () => {
  it('keeps a symlinked config a symlink and changes the file it leads to', async () => {
    const real = join(dir, 'real.cfg');
    writeFileSync(real, haproxyConfig(1, [db1().address]));
    const link = join(dir, 'haproxy.cfg');
    symlinkSync(real, link);
    const result = await run(
      { ConfigPath: link, Destinations: db2().address, ApplyMode: 'command' },
      {
        RS_APPLY_COMMAND: 'true',
      },
    );
    expect(result.result?.changed).toBe(true);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(real, 'utf8')).toContain(db2().address);
  });

  it('refuses, untouched, a section with .if/.else blocks and a CRLF config', async () => {
    const config = join(dir, 'haproxy.cfg');
    const conditional = haproxyConfig(1, []).replace(
      '    bind',
      `    .if defined(PRIMARY_A)\n    server a ${db1().address} check\n    .else\n    server b ${db2().address} check\n    .endif\n    bind`,
    );
    writeFileSync(config, conditional);
    const result = await run({ ConfigPath: config, Destinations: db2().address });
    expect(result.exitCode).toBe(1);
    expect(result.result?.message).toContain('conditional block');
    expect(readFileSync(config, 'utf8')).toBe(conditional);
    const crlf = haproxyConfig(1, [db1().address]).replaceAll('\n', '\r\n');
    writeFileSync(config, crlf);
    const second = await run({ ConfigPath: config, Destinations: db2().address });
    expect(second.exitCode).toBe(1);
    expect(second.result?.message).toContain('CRLF');
    expect(readFileSync(config, 'utf8')).toBe(crlf);
  });

  it('never signals the unrelated process a stale pidfile names', async () => {
    const config = join(dir, 'haproxy.cfg');
    writeFileSync(config, haproxyConfig(1, [db1().address]));
    const bystander = spawn('sleep', ['120'], { stdio: 'ignore' });
    try {
      writeFileSync(join(dir, 'haproxy.pid'), `${bystander.pid}\n`);
      const result = await run({ ConfigPath: config, Destinations: db2().address, ApplyMode: 'pidfile' });
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toContain(`names process ${bystander.pid} (sleep, `);
      expect(bystander.exitCode).toBeNull();
      expect(bystander.signalCode).toBeNull();
      expect(() => process.kill(bystander.pid!, 0)).not.toThrow();
    } finally {
      bystander.kill('SIGKILL');
    }
  });

  it('never signals a process named haproxy that is not the HAProxy binary (a stale pidfile, a reused pid)', async () => {
    const config = join(dir, 'haproxy.cfg');
    writeFileSync(config, haproxyConfig(1, [db1().address]));
    // Any user can run a program called haproxy (or haproxy_exporter): the name alone proves nothing.
    for (const name of ['haproxy', 'haproxy_exporter']) {
      const impostor = join(dir, name);
      copyFileSync(execFileSync('sh', ['-c', 'command -v sleep']).toString().trim(), impostor);
      chmodSync(impostor, 0o755);
      const bystander = spawn(impostor, ['120'], { stdio: 'ignore' });
      try {
        writeFileSync(join(dir, 'haproxy.pid'), `${bystander.pid}\n`);
        const result = await run({ ConfigPath: config, Destinations: db2().address, ApplyMode: 'pidfile' });
        expect(result.exitCode).not.toBe(0);
        expect(result.stderr).toContain(`names process ${bystander.pid}`);
        expect(result.stderr).toContain('not HAProxy');
        expect(bystander.exitCode).toBeNull();
        expect(bystander.signalCode).toBeNull();
        expect(() => process.kill(bystander.pid!, 0)).not.toThrow();
      } finally {
        bystander.kill('SIGKILL');
      }
    }
  });

  it('keeps the verification password out of the HAProxy daemon it starts', async () => {
    const config = join(dir, 'haproxy.cfg');
    const port = db2().port + 23;
    writeFileSync(config, haproxyConfig(port, [db1().address]));
    execFileSync('haproxy', ['-f', config, '-D']);
    const pidFile = join(dir, 'haproxy.pid');
    try {
      const { user, password } = cluster.credentials.watchdog;
      const routers = new LocalRouterSwitch({
        groups: {
          g: [
            {
              id: 'local',
              routerKind: 'haproxy',
              configPath: config,
              applyMode: 'pidfile',
              verifyUser: user,
              verifyPassword: password,
              verifyDefaultsFile: '',
              verifyTimeoutSeconds: 10,
              backupDir: join(dir, 'backups'),
            },
          ],
        },
        retryFailed: false,
      });
      const result = await routers.switch('g', {
        destinations: [db2().address],
        fenced: [db1().address],
        dryRun: false,
      });
      expect(result.routers[0]!.result).toMatchObject({ ok: true, applied: 'pidfile:soft-restart' });
      expect(result.routers[0]!.result?.verify.status).toBe('ok');
      const pid = readFileSync(pidFile, 'utf8').trim().split('\n')[0]!;
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      expect(environ).not.toContain('MYSQL_PWD');
      expect(environ).not.toContain(password);
    } finally {
      for (const pid of readFileSync(pidFile, 'utf8').trim().split('\n')) {
        try {
          process.kill(Number(pid), 'SIGTERM');
        } catch {
          // gone already
        }
      }
    }
  });
});
