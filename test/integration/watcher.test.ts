/**
 * The backend watcher (infra/watcher/watcher.sh, the file the SSM document installs), run for real:
 * against a real HAProxy from the harness in front of real MariaDB servers whose primary is killed with
 * SIGKILL; against ProxySQL's admin SQL (the test double of test/fixtures/routers, ProxySQL cannot be
 * installed here) to drive its debouncing through down/up/down flaps; against the kernel's socket table
 * for MySQL Router (a process named mysqlrouter holding real connections). Its events go over HTTP,
 * signed by curl, to the EventBridge stand-in, which checks the signature as AWS does and matches the
 * stack's own rule pattern (infra/deployment/detect.cjs).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventBridgeStandIn, type ReceivedEntry } from '../../functions/sandbox/eventbridge.js';
import { type Cluster, freePort, startCluster } from '../../functions/sandbox/harness/index.js';
import { type Connection, openConnection } from '../../functions/sandbox/harness/sql.js';
import { startImds } from '../../functions/sandbox/production/imds.js';
import { WatcherProcess } from '../../functions/sandbox/watcher.js';

const require = createRequire(import.meta.url);
const detect = require('../../infra/deployment/detect.cjs') as {
  WATCHER_SOURCE: string;
  WATCHER_DETAIL_TYPE: string;
  watcherPattern: (d: { cluster: string }, group: { name: string }) => Record<string, unknown>;
};

const FAKE_PROXYSQL = fileURLToPath(new URL('../fixtures/routers/fake-proxysql-admin.py', import.meta.url));
const BUS = 'mysql-failover-test-detect';
const CLUSTER = 'watcher-test';

let bridge: EventBridgeStandIn;
const watchers: WatcherProcess[] = [];

function watcherEnv(extra: Record<string, string>): Record<string, string> {
  return {
    MFW_CLUSTER: CLUSTER,
    MFW_EVENT_BUS: BUS,
    MFW_REGION: bridge.region,
    MFW_ENDPOINT: bridge.endpoint,
    MFW_BACKEND: 'backend-1',
    MFW_INTERVAL_MS: '100',
    AWS_ACCESS_KEY_ID: bridge.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: bridge.credentials.secretAccessKey,
    AWS_SESSION_TOKEN: bridge.credentials.sessionToken,
    ...extra,
  };
}

function startWatcher(dir: string, name: string, env: Record<string, string>): WatcherProcess {
  const watcher = new WatcherProcess({ dir, name, env });
  watchers.push(watcher);
  watcher.start();
  return watcher;
}

const detailOf = (entry: ReceivedEntry) => entry.event.detail as Record<string, unknown>;
const countLines = (text: string, word: string) =>
  text.split('\n').filter((l) => l.startsWith(`watcher: ${word}:`)).length;

beforeAll(async () => {
  bridge = new EventBridgeStandIn();
  await bridge.start();
  for (const group of ['g1', 'p1', 'm1', 'i1']) {
    bridge.addRule({
      name: `rule-${group}`,
      eventBusName: BUS,
      pattern: detect.watcherPattern({ cluster: CLUSTER }, { name: group }) as never,
      target: () => {},
    });
  }
});

afterAll(async () => {
  await bridge.stop();
});

afterEach(async () => {
  const codes = await Promise.all(watchers.splice(0).map((w) => w.stop()));
  // It traps SIGTERM and exits 0: a systemd stop is clean.
  for (const code of codes) expect(code).toBe(0);
  bridge.received.length = 0;
  bridge.refused.length = 0;
});

describe('watcher on a real HAProxy in front of real MariaDB', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster({
      servers: 2,
      groups: 1,
      routersPerGroup: 1,
      routerMode: 'sticky',
      name: 'watcher',
    });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('is silent while the primary is up, sends one signed event matching the stack rule when it is killed, and repeats only after the repeat period', async () => {
    const router = cluster.groups[0]!.routers[0]!;
    const db1 = cluster.servers[0]!;
    const watcher = startWatcher(
      cluster.dir,
      'watcher-g1',
      watcherEnv({
        MFW_GROUP: 'g1',
        MFW_ROUTER_KIND: 'haproxy',
        MFW_CONFIG_PATH: router.configPath,
        MFW_SECTION: 'mysql_failover',
        MFW_MIN_GAP_S: '1',
        MFW_REPEAT_S: '4',
      }),
    );
    await watcher.waitForOutput('watcher: up:', 30_000);
    expect(bridge.received).toHaveLength(0);

    const killedAt = Date.now();
    await db1.kill9();
    const [first] = await bridge.waitForEntries(1, 30_000);
    expect(bridge.refused).toEqual([]);
    expect(first!.eventBusName).toBe(BUS);
    expect(first!.event.source).toBe(detect.WATCHER_SOURCE);
    expect(first!.event['detail-type']).toBe(detect.WATCHER_DETAIL_TYPE);
    expect(first!.matchedRules).toEqual(['rule-g1']);
    expect(detailOf(first!)).toMatchObject({
      cluster: CLUSTER,
      group: 'g1',
      backend: 'backend-1',
      routerKind: 'haproxy',
      primary: `127.0.0.1:${db1.port}`,
      state: 'down',
    });
    expect(String(detailOf(first!).reason)).toMatch(/mysql_failover\/db1 is (DOWN|MAINT)/);
    expect(Number(detailOf(first!).observedAtMs)).toBeGreaterThanOrEqual(killedAt - 1000);
    process.stdout.write(`watcher: kill -> event ${first!.atMs - killedAt} ms\n`);

    // Still down (the sticky router keeps db1 in MAINT even once it is back): one more event per
    // repeat period, never sooner.
    const [, second] = await bridge.waitForEntries(2, 30_000);
    expect(second!.atMs - first!.atMs).toBeGreaterThanOrEqual(4_000 - 150);
    await db1.start();
  });
});

/** ProxySQL's admin interface, as the router-switch tests use it: SQL run on SQLite, every statement logged. */
function fakeProxysql(): { dir: string; env: Record<string, string>; admin: (sql: string) => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'watcher-proxysql-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  symlinkSync(FAKE_PROXYSQL, join(bin, 'mariadb'));
  writeFileSync(
    join(dir, 'admin.cnf'),
    '[client]\nhost=127.0.0.1\nport=6032\nuser=radmin\npassword=radmin\n',
    {
      mode: 0o600,
    },
  );
  const env = {
    PATH: `${bin}:${process.env.PATH}`,
    FAKE_PROXYSQL_DB: join(dir, 'proxysql.db'),
    FAKE_PROXYSQL_LOG: join(dir, 'admin.log'),
  };
  const admin = async (sql: string): Promise<void> => {
    const child = spawn(FAKE_PROXYSQL, ['--no-defaults'], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    child.stdin.end(sql);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
  };
  return { dir, env, admin };
}

const SERVERS =
  "INSERT INTO runtime_mysql_servers (hostgroup_id, hostname, port, status) VALUES (10, '10.0.1.11', 3306, 'ONLINE'), (20, '10.0.1.12', 3306, 'ONLINE');";
const SHUN = "UPDATE runtime_mysql_servers SET status='SHUNNED' WHERE hostgroup_id=10;";
const ONLINE = "UPDATE runtime_mysql_servers SET status='ONLINE' WHERE hostgroup_id=10;";

describe('watcher debouncing, driven through ProxySQL admin SQL', () => {
  let proxysql: ReturnType<typeof fakeProxysql>;
  beforeAll(() => {
    proxysql = fakeProxysql();
  });
  afterAll(() => rmSync(proxysql.dir, { recursive: true, force: true }));

  it('holds a down seen during the minimum gap until the gap ends, sends it once, and sends nothing for ups', async () => {
    await proxysql.admin(SERVERS);
    const gapS = 25; // the flap below takes a second or two, far more on a loaded machine: it must fall inside
    const watcher = startWatcher(
      proxysql.dir,
      'watcher-p1',
      watcherEnv({
        ...proxysql.env,
        MFW_GROUP: 'p1',
        MFW_ROUTER_KIND: 'proxysql',
        MFW_CONFIG_PATH: join(proxysql.dir, 'admin.cnf'),
        MFW_SECTION: '10:20',
        MFW_MIN_GAP_S: String(gapS),
        MFW_REPEAT_S: '600',
      }),
    );
    await watcher.waitForOutput('watcher: up:', 30_000);

    await proxysql.admin(SHUN);
    const [first] = await bridge.waitForEntries(1, 30_000);
    expect(detailOf(first!)).toMatchObject({
      group: 'p1',
      routerKind: 'proxysql',
      primary: '10.0.1.11:3306',
      state: 'down',
    });
    expect(String(detailOf(first!).reason)).toContain('no ONLINE server');

    // A flap inside the gap: up, then down again.
    await proxysql.admin(ONLINE);
    await watcher.waitForOutput(() => countLines(watcher.output(), 'up') >= 2, 30_000);
    await proxysql.admin(SHUN);
    await watcher.waitForOutput(() => countLines(watcher.output(), 'down') >= 2, 30_000);
    const secondDownSeenAt = Date.now();
    const [, second] = await bridge.waitForEntries(2, gapS * 1000 + 30_000);
    // Only meaningful when the flap fell inside the gap (it takes a second or two even when loaded).
    expect(secondDownSeenAt - first!.atMs).toBeLessThan(gapS * 1000);
    expect(second!.atMs - first!.atMs).toBeGreaterThanOrEqual(gapS * 1000 - 150);

    // Back up for good: the watcher says so and sends nothing more.
    await proxysql.admin(ONLINE);
    await watcher.waitForOutput(() => countLines(watcher.output(), 'up') >= 3, 30_000);
    expect(bridge.received).toHaveLength(2);
    expect(bridge.refused).toEqual([]);
  });

  it('signs with the instance role from the metadata service (IMDSv2) and names the instance', async () => {
    await proxysql.admin(SHUN);
    const imds = await startImds({
      region: bridge.region,
      instanceId: 'i-0abc1234def567890',
      credentials: bridge.credentials,
    });
    try {
      const env = watcherEnv({
        ...proxysql.env,
        MFW_GROUP: 'i1',
        MFW_ROUTER_KIND: 'proxysql',
        MFW_CONFIG_PATH: join(proxysql.dir, 'admin.cnf'),
        MFW_SECTION: '10',
        MFW_IMDS_ENDPOINT: imds.url,
      });
      for (const key of [
        'AWS_ACCESS_KEY_ID',
        'AWS_SECRET_ACCESS_KEY',
        'AWS_SESSION_TOKEN',
        'MFW_REGION',
        'MFW_BACKEND',
      ]) {
        delete env[key];
      }
      startWatcher(proxysql.dir, 'watcher-i1', env);
      // Down when it starts: that is reported too.
      const [entry] = await bridge.waitForEntries(1, 30_000);
      expect(bridge.refused).toEqual([]);
      expect(entry!.event.region).toBe(bridge.region);
      expect(detailOf(entry!)).toMatchObject({ group: 'i1', backend: 'i-0abc1234def567890', state: 'down' });
      expect(imds.tokensRefused).toBe(0);
    } finally {
      await imds.stop();
    }
  });
});

describe('watcher on MySQL Router, through the kernel socket table', () => {
  let dir: string;
  const servers: Server[] = [];
  const routers: ChildProcess[] = [];
  afterAll(async () => {
    for (const r of routers) r.kill('SIGKILL');
    for (const s of servers) {
      s.closeAllConnections?.();
      await new Promise((resolve) => s.close(resolve));
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function listener(): Promise<number> {
    const server = createServer();
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  }
  /** A process named mysqlrouter (a copy of socat) holding one connection to `port`, as the router's routing does. */
  function routerConnection(port: number): void {
    const child = spawn(join(dir, 'mysqlrouter'), ['-', `TCP:127.0.0.1:${port}`], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    routers.push(child);
  }

  it('reads the first destination from the routing section and reports down once the router holds a connection to a later one', async () => {
    dir = mkdtempSync(join(tmpdir(), 'watcher-mysqlrouter-'));
    copyFileSync('/usr/bin/socat', join(dir, 'mysqlrouter'));
    const p1 = await listener();
    const p2 = await listener();
    const config = join(dir, 'mysqlrouter.conf');
    writeFileSync(
      config,
      `[DEFAULT]\nlogging_folder=/tmp\n\n[routing:other]\nbind_port=7002\ndestinations=127.0.0.1:${p2}\n\n[routing:mysql_failover]\nbind_address=127.0.0.1\nbind_port=7001\ndestinations = 127.0.0.1:${p1}, 127.0.0.1:${p2}\nrouting_strategy=first-available\n`,
    );
    routerConnection(p1);
    const watcher = startWatcher(
      dir,
      'watcher-m1',
      watcherEnv({
        MFW_GROUP: 'm1',
        MFW_ROUTER_KIND: 'mysqlrouter',
        MFW_CONFIG_PATH: config,
        MFW_SECTION: 'mysql_failover',
      }),
    );
    await watcher.waitForOutput(/watcher: up: mysqlrouter holds [1-9]\d* connection/, 30_000);
    expect(bridge.received).toHaveLength(0);

    routerConnection(p2);
    const [entry] = await bridge.waitForEntries(1, 30_000);
    expect(detailOf(entry!)).toMatchObject({
      group: 'm1',
      routerKind: 'mysqlrouter',
      primary: `127.0.0.1:${p1}`,
      state: 'down',
    });
    expect(String(detailOf(entry!).reason)).toContain(`later destination: 127.0.0.1:${p2}`);
  });
});

/**
 * MySQL Router 9.7 from Debian unstable, unpacked by scripts/setup-mysql.sh into a private prefix whose
 * binaries run through the prefix's own loader. The loader is started through a link named mysqlrouter,
 * so the process is called mysqlrouter, as when the package runs it.
 */
const MYSQL_PREFIX = join(
  process.env.MYSQL_FAILOVER_CACHE ?? join(homedir(), '.cache', 'mysql-failover'),
  'mysql-9.7',
);
const haveMysqlRouter =
  existsSync(join(MYSQL_PREFIX, '.complete')) && existsSync(join(MYSQL_PREFIX, 'usr/bin/mysqlrouter'));

describe.skipIf(!haveMysqlRouter)('watcher on a real MySQL Router 9.7 in front of real MariaDB', () => {
  let cluster: Cluster;
  let router: ChildProcess | undefined;
  const connections: Connection[] = [];
  afterAll(async () => {
    for (const c of connections) c.destroy();
    router?.kill('SIGTERM');
    await cluster?.stop();
  });

  it('sees the router move to the replica when the primary is killed, and sends the event', async () => {
    cluster = await startCluster({ servers: 2, groups: 0, name: 'watcher-mysqlrouter' });
    const [db1, db2] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
    const port = await freePort();
    const config = join(cluster.dir, 'mysqlrouter.conf');
    writeFileSync(
      config,
      [
        '[DEFAULT]',
        'logging_folder=',
        `runtime_folder=${cluster.dir}`,
        `data_folder=${cluster.dir}`,
        `plugin_folder=${join(MYSQL_PREFIX, 'usr/lib/mysqlrouter/plugin')}`,
        '',
        '[routing:mysql_failover]',
        'bind_address=127.0.0.1',
        `bind_port=${port}`,
        `destinations=${db1.address},${db2.address}`,
        'routing_strategy=first-available',
        'protocol=classic',
        'client_ssl_mode=PASSTHROUGH',
        '',
      ].join('\n'),
    );
    const loader = join(cluster.dir, 'mysqlrouter');
    symlinkSync(join(MYSQL_PREFIX, 'usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'), loader);
    const libraries = ['usr/lib/x86_64-linux-gnu', 'usr/lib/mysql-router', 'usr/lib/mysqlrouter/private']
      .map((d) => join(MYSQL_PREFIX, d))
      .join(':');
    router = spawn(
      loader,
      ['--library-path', libraries, join(MYSQL_PREFIX, 'usr/bin/mysqlrouter'), '-c', config],
      {
        stdio: ['ignore', 'ignore', 'ignore'],
      },
    );
    const through = { host: '127.0.0.1', port, ...cluster.credentials.watchdog, connectTimeoutMs: 2_000 };
    /** An application connection through the router, kept open; the port of the server it reached. */
    const connect = async (deadlineMs: number, want: number): Promise<void> => {
      const deadline = Date.now() + deadlineMs;
      for (;;) {
        try {
          const c = await openConnection(through);
          connections.push(c);
          const [rows] = await c.query('SELECT @@port AS port');
          if (Number((rows as { port: string }[])[0]!.port) === want) return;
        } catch {}
        if (Date.now() > deadline) throw new Error(`no connection through MySQL Router reached port ${want}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await connect(60_000, db1.port);
    const watcher = startWatcher(
      cluster.dir,
      'watcher-mr',
      watcherEnv({
        MFW_GROUP: 'm1',
        MFW_ROUTER_KIND: 'mysqlrouter',
        MFW_CONFIG_PATH: config,
        MFW_SECTION: 'mysql_failover',
      }),
    );
    await watcher.waitForOutput(/watcher: up: mysqlrouter holds [1-9]\d* connection/, 30_000);
    expect(bridge.received).toHaveLength(0);

    await db1.kill9();
    // The application keeps connecting: first-available now lands on the replica.
    await connect(60_000, db2.port);
    const [entry] = await bridge.waitForEntries(1, 30_000);
    expect(detailOf(entry!)).toMatchObject({
      group: 'm1',
      routerKind: 'mysqlrouter',
      primary: db1.address,
      state: 'down',
    });
    expect(String(detailOf(entry!).reason)).toContain(`later destination: ${db2.address}`);
  });
});
