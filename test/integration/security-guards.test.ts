/**
 * Commands that destroy data, guarded (issue 13, findings 1 and 2), on real MariaDB: a restore refuses
 * a target that is somebody's live data, saying why; a switchover refuses a target that is not a
 * configured, healthy replica before anything is fenced.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../functions/cli.js';
import { observe, targetFromConfig } from '../../functions/cluster/observe.js';
import type { Config } from '../../functions/config/schema.js';
import { analyze } from '../../functions/core/analysis.js';
import type { Plan } from '../../functions/core/planner.js';
import { runDumpCommand, runRestoreCommand } from '../../functions/dump/cli.js';
import { SafetyRefusalError } from '../../functions/errors.js';
import { runCycle } from '../../functions/operations/cycle.js';
import { executeOperation } from '../../functions/operations/execute.js';
import { sandboxConfig, sandboxRouterSwitch } from '../../functions/sandbox/drill.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import { FolderObjectStore } from '../../functions/storage/folder-store.js';
import { pollUntil } from '../harness/wait.js';

let cluster: Cluster;
let config: Config;
let work: string;
let dumpDir: string;
const db1 = () => cluster.servers[0]!;
const db2 = () => cluster.servers[1]!;
const db3 = () => cluster.servers[2]!;

/** Binary log position, GTID state and read_only of a server: a RESET MASTER or a fence would show. */
async function state(server: Cluster['servers'][number]): Promise<string> {
  const [r] = await server.query<{ b: string; s: string; ro: number }[]>(
    'SELECT @@global.gtid_binlog_pos AS b, @@global.gtid_slave_pos AS s, @@global.read_only AS ro',
  );
  return `${r!.b} ${r!.s} ro=${r!.ro}`;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'mf-guards-'));
  cluster = await startCluster({
    servers: 3,
    groups: 1,
    routersPerGroup: 1,
    readOnlyServers: true,
    name: 'guards',
  });
  config = sandboxConfig(cluster, 'guards test');
  await db1().query('CREATE DATABASE IF NOT EXISTS app');
  await db1().query('CREATE TABLE IF NOT EXISTS app.t (id INT PRIMARY KEY, v VARCHAR(20))');
  await db1().query("INSERT INTO app.t VALUES (1, 'one'), (2, 'two')");
  for (const replica of [db2(), db3()]) await cluster.waitForReplication(replica);
  dumpDir = join(work, 'dump');
  await runDumpCommand(['--from', db1().address, '--to', dumpDir, '--schemas', 'app'], {
    credentials: cluster.credentials.watchdog,
    log: () => {},
  });
}, 240_000);

afterAll(async () => {
  await cluster?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const ctx = () => ({ credentials: cluster.credentials.watchdog, log: () => {} });

const switchover = (
  target: string,
  extra: Record<string, unknown> = {},
  deps: Record<string, unknown> = {},
) =>
  runCycle(
    config,
    {
      trigger: 'console',
      action: 'switchover',
      group: 'g1',
      dryRun: false,
      force: false,
      target,
      ...extra,
    } as never,
    { routers: sandboxRouterSwitch(config), antiFlapUntil: null, ...deps },
  );

describe('switchover to a server that is not a configured, healthy replica (finding 1)', () => {
  it('refuses an unknown host:port before fencing anything: the primary keeps taking writes', async () => {
    const before = await state(db1());
    const report = await switchover(`127.0.0.1:${db1().port + 999}`);
    expect(report.plan?.kind).toBe('alert-only');
    expect(report.plan?.reason).toMatch(/is not a configured server/);
    expect(report.operation).toBeUndefined();
    expect(await state(db1())).toBe(before);
    expect(before).toMatch(/ro=0$/);
  });

  it('refuses during the anti-flap period unless forced', async () => {
    const until = new Date(Date.now() + 3_600_000);
    const held = await switchover(db2().address, { dryRun: true }, { antiFlapUntil: until });
    expect(held.plan?.kind).toBe('alert-only');
    expect(held.plan?.reason).toMatch(/anti-flap period/);
    const forced = await switchover(db2().address, { dryRun: true, force: true }, { antiFlapUntil: until });
    expect(forced.plan).toMatchObject({ kind: 'operation', operation: 'switchover' });
  });

  it('takes a port with a leading zero as the configured server it names', async () => {
    const report = await switchover(`127.0.0.1:0${db2().port}`, { dryRun: true });
    expect(report.plan).toMatchObject({
      kind: 'operation',
      reason: `planned switchover from ${db1().address} to ${db2().address}`,
    });
  });
});

describe('local dumps (Low)', () => {
  it('are readable by their owner only (files 0600, folders 0700), though the umask would allow more', () => {
    expect(process.umask() & 0o044).toBe(0);
    const seen: string[] = [];
    const walk = (path: string) => {
      const mode = statSync(path).mode & 0o777;
      seen.push(`${relative(work, path)} ${mode.toString(8)}`);
      if (statSync(path).isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
    };
    walk(dumpDir);
    expect(seen.length).toBeGreaterThan(2);
    for (const line of seen) expect(line).toMatch(/ (600|700)$/);
  });
});

describe('restore into a server that holds live data (finding 2)', () => {
  it('makes setting the GTID position explicit', async () => {
    await expect(runRestoreCommand(['--from', dumpDir, '--into', db3().address], ctx())).rejects.toThrow(
      /--set-gtid .* or --no-gtid/,
    );
  });

  it('refuses the primary, naming every reason, and leaves its binary log and data alone', async () => {
    await db1().query("INSERT INTO app.t VALUES (3, 'after the dump')");
    const before = await state(db1());
    const lines: string[] = [];
    const code = await main(
      [
        'restore',
        '--from',
        dumpDir,
        '--into',
        db1().address,
        '--set-gtid',
        '--replace',
        '--config',
        cluster.configFile(),
      ],
      { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l), env: {} } as never,
    ).catch((error: unknown) => {
      lines.push(String(error instanceof Error ? error.message : error));
      return 1;
    });
    expect(code).not.toBe(0);
    const said = lines.join('\n');
    expect(said).toContain(`refusing to restore into ${db1().address}`);
    expect(said).toContain('it is writable (read_only=OFF)');
    expect(said).toMatch(/it has [12] replica\(s\) attached/);
    expect(said).toMatch(/router\(s\) g1\/\S+ send connections to it/);
    expect(said).toContain('it holds transactions the dump lacks');
    expect(await state(db1())).toBe(before);
    const [row] = await db1().query<{ n: number }[]>('SELECT COUNT(*) AS n FROM app.t');
    expect(Number(row!.n)).toBe(3);
  });

  it('refuses a replica that holds transactions the dump lacks, and restores into it with --force', async () => {
    await cluster.waitForReplication(db3());
    // db3 has replicated the write made after the dump.
    await db3().query('STOP SLAVE');
    const error = await runRestoreCommand(
      ['--from', dumpDir, '--into', db3().address, '--set-gtid', '--replace'],
      ctx(),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SafetyRefusalError);
    expect((error as Error).message).toContain('it holds transactions the dump lacks');
    expect((error as Error).message).not.toContain('writable');
    const lines: string[] = [];
    const forced = await runRestoreCommand(
      ['--from', dumpDir, '--into', db3().address, '--set-gtid', '--replace', '--force'],
      { ...ctx(), log: (l: string) => lines.push(l) },
    );
    expect((forced as { gtidPosition: string }).gtidPosition).not.toBe('');
    expect(lines.join('\n')).toContain(
      'warning: --force: restoring although it holds transactions the dump lacks',
    );
  });
});

describe('switchover after the restore (finding 1)', () => {
  it('refuses a replica that is not healthy', async () => {
    // db3 stopped replicating for the restore above.
    const report = await switchover(db3().address, { dryRun: true });
    expect(report.plan?.kind).toBe('alert-only');
    expect(report.plan?.reason).toMatch(/switchover refused/);
  });
});

/** Binlog dump threads on db2: one per replica attached to it. */
async function dumpThreads(): Promise<number> {
  const rows = await db2().query<{ n: number }[]>(
    "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'",
  );
  return Number(rows[0]!.n);
}

/** Runs an operation whose only step reseeds `server` from `from`, as the executor runs any plan. */
async function reseedOperation(server: string, from: string) {
  const { user, password } = cluster.credentials.watchdog;
  const observeNow = () =>
    observe(targetFromConfig(config), { user, password, connectTimeoutMs: 5_000, queryTimeoutMs: 10_000 });
  const snapshot = await observeNow();
  const analysis = analyze(snapshot);
  const plan: Plan = {
    kind: 'operation',
    operation: 'recover',
    severity: 'warning',
    steps: [
      { kind: 'StopReplication', server },
      { kind: 'Reseed', server, from },
    ],
    reason: 'test: rebuild one server',
    code: analysis.code,
    dryRun: false,
  };
  return executeOperation(
    { config, groups: ['g1'], plan, analysis, snapshot },
    {
      routers: sandboxRouterSwitch(config),
      store: () => new FolderObjectStore(join(work, 'operations')),
      observe: observeNow,
    },
  );
}

describe('reseed inside an operation (finding 2)', () => {
  it('never overwrites a server that has replicas attached, saying so, and leaves it alone', async () => {
    // db3 replicates from db2: db2 is the source of somebody's data, whatever the plan says.
    await db3().query('STOP SLAVE');
    await db3().query(
      `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${db2().port}, MASTER_USER='${cluster.credentials.replication.user}', MASTER_PASSWORD='${cluster.credentials.replication.password}', MASTER_USE_GTID=slave_pos`,
    );
    await db3().query('START SLAVE');
    expect(await pollUntil(dumpThreads, (n) => n > 0)).toBeGreaterThan(0);
    await db2().query('CREATE DATABASE IF NOT EXISTS only_on_db2');
    const before = await state(db2());
    const result = await reseedOperation(db2().address, db1().address);
    const step = result.steps.find((s) => s.kind === 'Reseed');
    expect(step?.outcome).toBe('failed');
    expect(JSON.stringify(result)).toMatch(/refusing to replace .*1 replica\(s\) replicate from it/);
    expect(await state(db2())).toBe(before);
    const [kept] = await db2().query<{ n: number }[]>(
      "SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'only_on_db2'",
    );
    expect(Number(kept!.n)).toBe(1);
  });

  it('overwrites a server whose only binary-log reader is a tool (a salvage extract), not a replica', async () => {
    // mariadb-binlog reads over the replication protocol (a Binlog Dump thread) without registering as a
    // replica, as the salvage's extract does just before a reseed: it is nobody's source of data.
    await db3().query('STOP SLAVE');
    expect(await pollUntil(dumpThreads, (n) => n === 0)).toBe(0);
    await db2().query('SET GLOBAL read_only = ON');
    const { user, password } = cluster.credentials.replication;
    const [first] = await db2().query<{ Log_name: string }[]>('SHOW BINARY LOGS');
    const reader = spawn(
      'mariadb-binlog',
      [
        '--read-from-remote-server',
        '--host=127.0.0.1',
        `--port=${db2().port}`,
        `--user=${user}`,
        '--stop-never',
        '--to-last-log',
        first!.Log_name,
        '--result-file=/dev/null',
      ],
      { env: { ...process.env, MYSQL_PWD: password }, stdio: 'ignore' },
    );
    try {
      expect(await pollUntil(dumpThreads, (n) => n > 0)).toBeGreaterThan(0);
      const result = await reseedOperation(db2().address, db1().address);
      const step = result.steps.find((s) => s.kind === 'Reseed');
      expect(step?.outcome, JSON.stringify(result.error ?? step)).toBe('done');
    } finally {
      reader.kill('SIGKILL');
      // The reader's Binlog Dump thread waits for the next event before it notices: ended here.
      const threads = await db2().query<{ id: number }[]>(
        "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'",
      );
      for (const t of threads)
        await db2()
          .query(`KILL ${Number(t.id)}`)
          .catch(() => undefined);
    }
  });

  it('never overwrites a server while it is writable: it is made read-only first, and stays so', async () => {
    // No replica left on db2; it is writable (the seed's both-writable mode) and no router uses it.
    await db3().query('STOP SLAVE');
    expect(await pollUntil(dumpThreads, (n) => n === 0)).toBe(0);
    await db2().query('SET GLOBAL read_only = OFF');
    const result = await reseedOperation(db2().address, db1().address);
    const step = result.steps.find((s) => s.kind === 'Reseed');
    expect(step?.outcome, JSON.stringify(result.error ?? step)).toBe('done');
    expect(step?.detail).toContain('made read-only before it was overwritten');
    const [ro] = await db2().query<{ ro: number }[]>('SELECT @@global.read_only AS ro');
    expect(Number(ro!.ro)).toBe(1);
  });
});
