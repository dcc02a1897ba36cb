/**
 * The router script, taken from the SSM document and run as the SSM Agent runs it, against real HAProxy
 * routers (master-worker, as systemd runs them) in front of real MariaDB servers; then the local
 * adapter (the same script file, for the CLI and the sandbox) on the same routers; then the MySQL Router
 * driver's verification, through a stand-in for a restarted first-available router (MySQL Router itself
 * cannot be installed here: test/fixtures/routers/fake-mysqlrouter-restart.sh).
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalRouterSwitch } from '../../functions/routers/local.js';
import {
  type Cluster,
  freePort,
  type RouterHandle,
  startCluster,
} from '../../functions/sandbox/harness/index.js';
import { openConnection, queryOnce } from '../../functions/sandbox/harness/sql.js';
import { runDocumentAsAgent } from '../fixtures/routers/agent.js';

let cluster: Cluster;
let verifyDefaults: string;
let settings: string;

const db1 = () => cluster.servers[0]!;
const db2 = () => cluster.servers[1]!;

function runOn(router: RouterHandle, parameters: Record<string, string>) {
  return runDocumentAsAgent(
    {
      RouterKind: 'haproxy',
      ConfigPath: router.configPath,
      Section: 'mysql_failover',
      VerifyDefaultsFile: verifyDefaults,
      VerifyTimeoutSeconds: '15',
      ...parameters,
    },
    { RS_SETTINGS_FILE: settings },
    { allowDirs: [dirname(router.configPath), cluster.dir] },
  );
}

/** Which server's port answers a NEW connection through the router, as the watchdog user. */
async function answeringPort(router: RouterHandle): Promise<number> {
  const rows = await queryOnce<{ port: string | number }[]>(
    { host: router.host, port: router.port, ...cluster.credentials.watchdog },
    'SELECT @@port AS port',
  );
  return Number(rows[0]!.port);
}

async function watchdogConnectionsOn(server: { query: Cluster['primary']['query'] }): Promise<number> {
  const rows = await server.query<{ n: string | number }[]>(
    "SELECT COALESCE(SUM(TOTAL_CONNECTIONS), 0) AS n FROM information_schema.USER_STATISTICS WHERE USER = 'watchdog'",
  );
  return Number(rows[0]!.n);
}

beforeAll(async () => {
  cluster = await startCluster({
    servers: 2,
    groups: 2,
    routersPerGroup: 1,
    routerMode: 'failback',
    name: 'routers',
  });
  verifyDefaults = join(cluster.dir, 'router-verify.cnf');
  const { user, password } = cluster.credentials.watchdog;
  writeFileSync(verifyDefaults, `[client]\nuser=${user}\npassword=${password}\n`, { mode: 0o600 });
  settings = join(cluster.dir, 'router-switch.env');
  writeFileSync(settings, `RS_BACKUP_DIR=${join(cluster.dir, 'router-backups')}\n`, { mode: 0o600 });
});

let fakeRouterPidFile: string | undefined;

afterAll(async () => {
  if (fakeRouterPidFile && existsSync(fakeRouterPidFile)) {
    try {
      process.kill(Number(readFileSync(fakeRouterPidFile, 'utf8').trim()), 'SIGTERM');
    } catch {
      // already gone
    }
  }
  await cluster?.stop();
});

describe('router script on real HAProxy', () => {
  it('rolls back a config that fails validation and the router keeps working', async () => {
    const router = cluster.routers[0]!;
    const before = readFileSync(router.configPath, 'utf8');
    const result = await runOn(router, { Destinations: `no-such-host.invalid:3306,${db2().address}` });

    expect(result.exitCode).toBe(3);
    expect(result.result).toMatchObject({ ok: false, validated: false, changed: false, backup: '' });
    expect(result.result?.message).toContain('haproxy -c rejected the new config');
    expect(readFileSync(router.configPath, 'utf8')).toBe(before);
    expect(await answeringPort(router)).toBe(db1().port);
  });

  it('restores and reloads the previous config when the new primary does not answer through the router', async () => {
    const router = cluster.routers[0]!;
    const before = readFileSync(router.configPath, 'utf8');
    const result = await runOn(router, {
      Destinations: `127.0.0.1:1,${db1().address}`,
      VerifyTimeoutSeconds: '3',
    });

    expect(result.exitCode).toBe(5);
    expect(result.result).toMatchObject({ ok: false, rolledBack: true, applied: 'pidfile:master-reload' });
    expect(result.result?.verify.status).toBe('failed');
    expect(readFileSync(router.configPath, 'utf8')).toBe(before);
    await cluster.waitForRouterTarget(router, db1());
  });

  it('moves every router to the new primary, shuts the fenced server out at once, and it gets no new connection', async () => {
    // A session opened through the router before the switch, on the old primary.
    const held = await openConnection({
      host: cluster.routers[0]!.host,
      port: cluster.routers[0]!.port,
      ...cluster.credentials.watchdog,
    });
    const [heldRows] = await held.query('SELECT @@port AS port');
    expect(Number((heldRows as { port: number }[])[0]!.port)).toBe(db1().port);
    const masters = cluster.routers.map((r) => r.pid);

    const results = await Promise.all(
      cluster.routers.map((router) => runOn(router, { Destinations: db2().address, Fenced: db1().address })),
    );
    for (const [i, result] of results.entries()) {
      const router = cluster.routers[i]!;
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.result).toMatchObject({
        ok: true,
        changed: true,
        applied: 'pidfile:master-reload',
        previous: [db1().address, db2().address],
        destinations: [db2().address],
        fenced: [db1().address],
        verify: { status: 'ok', through: router.address },
      });
      // Through the master CLI, on every live worker (old ones still serve their sessions after reloads).
      // Through the master CLI, on every live worker: the current one refuses new connections to the
      // fenced server; sessions that old workers (left by earlier reloads) still serve are shut one by one.
      const runtime = result.result?.runtime ?? [];
      expect(runtime.slice(0, 2), JSON.stringify(result.result?.warnings)).toEqual([
        'maint mysql_failover/db1',
        'shutdown sessions mysql_failover/db1',
      ]);
      expect(runtime.at(-1)).toMatch(/^workers [0-9]+( [0-9]+)*$/);
      expect(result.result?.warnings).toEqual([]);
      expect(result.result?.verify.expected).toMatch(new RegExp(`^2 ${db2().port} `));
      // The old primary's server line is gone; the new primary is the only, active, server.
      const config = readFileSync(router.configPath, 'utf8');
      expect(config.split('\n').filter((l) => /^\s*server /.test(l))).toEqual([
        `    server db2 ${db2().address} check`,
      ]);
      expect(config).toContain('option mysql-check user haproxy_check post-41');
      expect(router.pid).toBe(masters[i]);
    }

    // The session that was on the old primary was shut down by the runtime API.
    const survived = await held.query('SELECT 1').then(
      () => true,
      () => false,
    );
    expect(
      survived,
      JSON.stringify({
        r: results[0]!.result,
        err: results[0]!.stderr,
        sess: await cluster.haproxyRouters[0]!.runtime('show sess'),
      }),
    ).toBe(false);
    held.destroy();

    await db1().query('SET GLOBAL userstat = 1');
    try {
      const before = await watchdogConnectionsOn(db1());
      for (const router of cluster.routers) {
        for (let i = 0; i < 10; i++) expect(await answeringPort(router)).toBe(db2().port);
      }
      expect(await watchdogConnectionsOn(db1())).toBe(before);
    } finally {
      await db1().query('SET GLOBAL userstat = 0');
    }
  });

  it('changes nothing when asked for the state already in place', async () => {
    const router = cluster.routers[1]!;
    const mtime = statSync(router.configPath).mtimeMs;
    const result = await runOn(router, { Destinations: db2().address, Fenced: db1().address });
    expect(result.exitCode).toBe(0);
    expect(result.result).toMatchObject({ ok: true, changed: false, alreadyInPlace: true, applied: '' });
    expect(result.result?.message).toBe('already in place: nothing changed');
    expect(statSync(router.configPath).mtimeMs).toBe(mtime);
  });

  it('validates but touches nothing on a dry run', async () => {
    const router = cluster.routers[1]!;
    const before = readFileSync(router.configPath, 'utf8');
    const result = await runOn(router, { Destinations: `${db1().address},${db2().address}`, DryRun: 'true' });
    expect(result.exitCode).toBe(0);
    expect(result.result).toMatchObject({ ok: true, dryRun: true, validated: true, changed: false });
    expect(readFileSync(router.configPath, 'utf8')).toBe(before);
    expect(await answeringPort(router)).toBe(db2().port);
  });
});

describe('local RouterSwitch on real HAProxy', () => {
  it('switches a whole group back with a backup server, then reports where each router points', async () => {
    const { user, password } = cluster.credentials.watchdog;
    const groups = Object.fromEntries(
      cluster.groups.map((group) => [
        group.name,
        group.routers.map((router) => ({
          id: router.address,
          routerKind: 'haproxy' as const,
          configPath: router.configPath,
          verifyAddress: router.address,
          verifyUser: user,
          verifyPassword: password,
          backupDir: join(cluster.dir, 'router-backups'),
        })),
      ]),
    );
    const routerSwitch = new LocalRouterSwitch({ groups });
    const group = cluster.groups[0]!;

    const result = await routerSwitch.switch(group.name, {
      destinations: [db1().address, db2().address],
      fenced: [],
      dryRun: false,
    });
    expect(result).toMatchObject({ group: group.name, outcome: 'switched', alarm: false });
    expect(result.routers).toHaveLength(group.routers.length);
    const router = group.routers[0]!;
    const servers = readFileSync(router.configPath, 'utf8')
      .split('\n')
      .filter((l) => /^\s*server /.test(l));
    // db1 got a new name (its line had been removed); db2 stays as a backup only.
    expect(servers).toEqual([
      `    server dst_127_0_0_1_${db1().port} ${db1().address} check`,
      `    server db2 ${db2().address} check backup`,
    ]);
    expect(await answeringPort(router)).toBe(db1().port);

    const status = await routerSwitch.status(group.name);
    expect(status).toMatchObject({ action: 'status', outcome: 'status', alarm: false });
    expect(status.routers[0]!.result).toMatchObject({
      destinations: [db1().address, db2().address],
      verify: { status: 'answered' },
    });
    expect(status.routers[0]!.result?.verify.answered).toMatch(new RegExp(`^1 ${db1().port} `));
  });
});

describe('MySQL Router driver, verified through a restarted router', () => {
  it('verifies the new primary answers through the router, and rolls back a router that did not pick it up', async () => {
    const mrDir = join(cluster.dir, 'mysqlrouter');
    mkdirSync(mrDir, { recursive: true });
    const configPath = join(mrDir, 'mysqlrouter.conf');
    const port = await freePort();
    const original = [
      '[DEFAULT]',
      `logging_folder = ${mrDir}`,
      '',
      '[routing:mysql_failover]',
      'bind_address = 127.0.0.1',
      `bind_port = ${port}`,
      `destinations = ${db1().address},${db2().address}`,
      'mode = read-write',
      '',
    ].join('\n');
    writeFileSync(configPath, original);
    const restart = fileURLToPath(
      new URL('../fixtures/routers/fake-mysqlrouter-restart.sh', import.meta.url),
    );
    fakeRouterPidFile = join(mrDir, 'fake-mysqlrouter.pid');
    const settingsFor = (command: string) => {
      const path = join(mrDir, 'router-switch.env');
      writeFileSync(path, `RS_APPLY_COMMAND=${command}\nRS_BACKUP_DIR=${join(mrDir, 'backups')}\n`, {
        mode: 0o600,
      });
      return path;
    };
    const run = (command: string, parameters: Record<string, string>) =>
      runDocumentAsAgent(
        {
          RouterKind: 'mysqlrouter',
          ConfigPath: configPath,
          ApplyMode: 'command',
          VerifyDefaultsFile: verifyDefaults,
          VerifyTimeoutSeconds: '5',
          ...parameters,
        },
        { RS_SETTINGS_FILE: settingsFor(command) },
        { allowDirs: [mrDir, cluster.dir] },
      );
    // The router as it runs before the failover: on db1.
    const status = await run(restart, { Action: 'status' });
    expect(status.result?.verify.status).toBe('failed');
    const started = await runDocumentAsAgent(
      {
        RouterKind: 'mysqlrouter',
        ConfigPath: configPath,
        Destinations: `${db1().address},${db2().address}`,
        ApplyMode: 'command',
        VerifyDefaultsFile: verifyDefaults,
      },
      { RS_SETTINGS_FILE: settingsFor(restart) },
      { allowDirs: [mrDir, cluster.dir] },
    );
    expect(started.result?.alreadyInPlace).toBe(false); // not answering yet: the script applied (started) it
    expect(started.result?.verify.status).toBe('ok');

    // A restart that does not make the router re-read its config is caught and rolled back.
    const stale = await run('true', { Destinations: db2().address, Fenced: db1().address });
    expect(stale.exitCode).toBe(5);
    expect(stale.result).toMatchObject({ rolledBack: true, verify: { status: 'failed' } });
    expect(stale.result?.verify.answered).toMatch(new RegExp(`^1 ${db1().port} `));
    // Rolled back to the previous destinations without the fenced server: never back to it. The
    // previous file is the one the first switch wrote (mode = read-write already its routing_strategy).
    expect(readFileSync(configPath, 'utf8')).toBe(
      original
        .replace(`${db1().address},`, '')
        .replace('mode = read-write', 'routing_strategy = first-available'),
    );

    // The real switch: rewritten, restarted, and the new primary answers through the router.
    const switched = await run(restart, { Destinations: db2().address, Fenced: db1().address });
    expect(switched.exitCode, switched.stderr).toBe(0);
    expect(switched.result).toMatchObject({
      ok: true,
      changed: true,
      verify: { status: 'ok', through: `127.0.0.1:${port}` },
    });
    expect(switched.result?.verify.answered).toMatch(new RegExp(`^2 ${db2().port} `));
    expect(readFileSync(configPath, 'utf8')).toBe(
      original
        .replace(`destinations = ${db1().address},${db2().address}`, `destinations = ${db2().address}`)
        .replace('mode = read-write', 'routing_strategy = first-available'),
    );
    expect(readFileSync(join(mrDir, 'restarts.log'), 'utf8').split('\n').filter(Boolean)).toEqual([
      `restart -> ${db1().address}`,
      `restart -> ${db2().address}`,
    ]);
  });
});
