/**
 * TLS to MariaDB with a self-signed CA: the servers get a certificate signed by a CA made for the
 * test (openssl), the watchdog account is created with REQUIRE SSL, and the config says
 * `tls: { mode: 'verify-ca', caPath }`. Any watchdog session opened without TLS would be refused, so a
 * full failover (observe, election, fence, promote, salvage dump, reseed dump and restore) succeeding
 * with that account shows that every connection place uses TLS.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { watchdogGrantStatements } from '../../functions/cluster/grants.js';
import { mysqlTls, replicationTls } from '../../functions/cluster/tls.js';
import { type Config, parseConfig } from '../../functions/config/schema.js';
import { connect as dumpConnect } from '../../functions/dump/connection.js';
import { connectCoordinationDb } from '../../functions/election/db.js';
import { ConfigError } from '../../functions/errors.js';
import { connectAdmin } from '../../functions/operations/admin.js';
import { type CycleReport, runCycle } from '../../functions/operations/cycle.js';
import { startReplication } from '../../functions/operations/server-steps.js';
import { sandboxConfig, sandboxRouterSwitch } from '../../functions/sandbox/drill.js';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import { pollUntil } from '../harness/wait.js';

let dir: string;
let cluster: Cluster;
let plain: Cluster;
/** A configuration as written (parseConfig's input). */
const RAW = {
  clusterName: 'tls',
  servers: ['127.0.0.1:1', '127.0.0.1:2'],
  groups: [{ name: 'g1', routerKind: 'haproxy', routers: ['127.0.0.1:3'] }],
  credentials: { watchdog: { user: 'w', password: 'p' } },
};
let config: Config;
const tlsAccount = { user: 'watchdog_tls', password: 'tls-only-pw' };

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

/** A CA and a server certificate it signed (for 127.0.0.1), in `dir`. */
function makeCertificates(prefix: string): void {
  openssl(
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${prefix} test CA`].concat([
      '-keyout',
      `${prefix}-ca.key`,
      '-out',
      `${prefix}-ca.pem`,
    ]),
  );
  openssl(
    ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1'].concat([
      '-keyout',
      `${prefix}-server.key`,
      '-out',
      `${prefix}-server.csr`,
    ]),
  );
  writeFileSync(join(dir, `${prefix}-ext.cnf`), 'subjectAltName=IP:127.0.0.1\n');
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${prefix}-server.csr`,
      '-CA',
      `${prefix}-ca.pem`,
      '-CAkey',
      `${prefix}-ca.key`,
    ].concat([
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      `${prefix}-ext.cnf`,
      '-out',
      `${prefix}-server.pem`,
    ]),
  );
}

function withTls(tls: Config['tls'], account = tlsAccount): Config {
  return { ...config, tls, credentials: { ...config.credentials, watchdog: account } };
}

const status = (c: Config): Promise<CycleReport> =>
  runCycle(c, { trigger: 'cli', action: 'status', group: 'g1', dryRun: true, force: false });

beforeAll(async () => {
  // A cluster whose servers offer no TLS at all: what `preferred` must still reach.
  plain = await startCluster({ servers: 2, groups: 1, name: 'tls-plain' });
  dir = mkdtempSync(join(tmpdir(), 'mf-tls-'));
  makeCertificates('good');
  makeCertificates('other');
  cluster = await startCluster({
    servers: 2,
    groups: 2,
    name: 'tls',
    serverArgs: [
      `--ssl-ca=${join(dir, 'good-ca.pem')}`,
      `--ssl-cert=${join(dir, 'good-server.pem')}`,
      `--ssl-key=${join(dir, 'good-server.key')}`,
    ],
  });
  // The documented grants, plus REQUIRE SSL; created on the primary and replicated.
  const primary = cluster.servers[0]!;
  for (const sql of watchdogGrantStatements('mariadb', { ...tlsAccount, host: '%' }, ['harness', 'app%']))
    await primary.query(sql);
  await primary.query(`ALTER USER '${tlsAccount.user}'@'%' REQUIRE SSL`);
  await cluster.waitForReplication(cluster.servers[1]!);
  config = sandboxConfig(cluster, 'tls test');
});

afterAll(async () => {
  await plain?.stop();
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('TLS to the database servers', () => {
  it('observes every server over TLS verified against the CA with an account that requires it', async () => {
    const report = await status(withTls({ mode: 'verify-ca', caPath: join(dir, 'good-ca.pem') }));
    expect(report.error).toBeUndefined();
    expect(report.analysis?.code).toBe('Ok');
  });

  it('opens the operations, election and dump sessions over TLS', async () => {
    const c = withTls({ mode: 'verify-ca', caPath: join(dir, 'good-ca.pem') });
    const server = cluster.servers[0]!;
    const admin = await connectAdmin(c, server.address);
    try {
      const [row] = await admin.query<{ Value: string }>("SHOW SESSION STATUS LIKE 'Ssl_version'");
      expect(row?.Value).toMatch(/^TLSv1\.[23]$/);
    } finally {
      await admin.close();
    }
    const db = await connectCoordinationDb({
      host: server.host,
      port: server.port,
      ...tlsAccount,
      ...mysqlTls(c.tls),
    });
    try {
      const [row] = await db.query<{ Value: string }>("SHOW SESSION STATUS LIKE 'Ssl_cipher'");
      expect(row?.Value).not.toBe('');
    } finally {
      await db.close();
    }
    const dump = await dumpConnect({
      host: server.host,
      port: server.port,
      ...tlsAccount,
      ...mysqlTls(c.tls),
    });
    try {
      const [rows] = await dump.p.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'");
      expect((rows as Array<{ Value: string }>)[0]?.Value).not.toBe('');
    } finally {
      await dump.close();
    }
  });

  it('cannot log in without TLS when the account requires it: the servers are unreachable, nothing is planned', async () => {
    const report = await runCycle(withTls({ mode: 'off' }), {
      trigger: 'cli',
      action: 'check',
      group: 'g1',
      dryRun: true,
      force: false,
    });
    const servers = (
      report.snapshot as { servers: Array<{ reachable: boolean; error: { errno: number } | null }> }
    ).servers;
    for (const s of servers) {
      expect(s.reachable).toBe(false);
      expect(s.error?.errno).toBe(1045);
    }
    expect(report.plan?.kind).not.toBe('operation');
    expect(report.operation).toBeUndefined();
  });

  it('refuses a server certificate signed by another CA (verify-ca)', async () => {
    const report = await status(withTls({ mode: 'verify-ca', caPath: join(dir, 'other-ca.pem') }));
    const servers = (
      report.snapshot as { servers: Array<{ reachable: boolean; error: { message: string } | null }> }
    ).servers;
    for (const s of servers) {
      expect(s.reachable).toBe(false);
      expect(s.error?.message).toMatch(/certificate/i);
    }
    // 'required' encrypts without checking the certificate: the same servers are reachable.
    const required = await status(withTls({ mode: 'required' }));
    expect(required.analysis?.code).toBe('Ok');
  });

  it('names the CA file when it cannot be read', () => {
    expect(() => mysqlTls({ mode: 'verify-ca', caPath: join(dir, 'missing.pem') })).toThrow(ConfigError);
    expect(() => mysqlTls({ mode: 'verify-ca', caPath: join(dir, 'missing.pem') })).toThrow(/tls\.caPath/);
  });

  it('checks the host name only with verify-identity (the certificate names 127.0.0.1, not localhost)', async () => {
    const server = cluster.servers[0]!;
    const open = async (mode: 'verify-ca' | 'verify-identity', host: string) => {
      const c = await dumpConnect({
        host,
        port: server.port,
        ...tlsAccount,
        ...mysqlTls({ mode, caPath: join(dir, 'good-ca.pem') }),
      });
      await c.close();
    };
    await open('verify-identity', '127.0.0.1');
    await expect(open('verify-identity', 'localhost')).rejects.toThrow(/altnames/);
    // verify-ca checks the chain only: the same name mismatch passes.
    await open('verify-ca', 'localhost');
  });

  it('trusts only the CA it is given, inline as well as in a file, and never a verify mode without one', async () => {
    const inline = await status(
      withTls({ mode: 'verify-identity', ca: readFileSync(join(dir, 'good-ca.pem'), 'utf8') }),
    );
    expect(inline.analysis?.code).toBe('Ok');
    const other = await status(
      withTls({ mode: 'verify-ca', ca: readFileSync(join(dir, 'other-ca.pem'), 'utf8') }),
    );
    const servers = (other.snapshot as { servers: Array<{ reachable: boolean }> }).servers;
    expect(servers.every((s) => !s.reachable)).toBe(true);
    for (const mode of ['verify-ca', 'verify-identity'] as const) {
      expect(() => parseConfig({ ...RAW, tls: { mode } }, 'test')).toThrow(/tls\.mode: .* needs the CA/);
      expect(() => mysqlTls({ mode })).toThrow(/needs the CA/);
    }
    expect(() => mysqlTls({ mode: 'verify-ca', ca: 'not a certificate' })).toThrow(/tls\.ca holds no PEM/);
  });

  it('defaults to preferred: TLS when the server offers it, plain TCP when it has none; required refuses that server', async () => {
    expect(parseConfig(RAW, 'test').tls.mode).toBe('preferred');
    const server = cluster.servers[0]!;
    const ssl = await dumpConnect({
      host: server.host,
      port: server.port,
      ...tlsAccount,
      ...mysqlTls({ mode: 'preferred' }),
    });
    try {
      const [rows] = await ssl.p.query("SHOW SESSION STATUS LIKE 'Ssl_version'");
      expect((rows as Array<{ Value: string }>)[0]?.Value).toMatch(/^TLSv1\.[23]$/);
    } finally {
      await ssl.close();
    }
    const plainServer = plain.servers[0]!;
    const account = plain.credentials.watchdog;
    const c = await dumpConnect({
      host: plainServer.host,
      port: plainServer.port,
      ...account,
      ...mysqlTls({ mode: 'preferred' }),
    });
    try {
      const [rows] = await c.p.query("SHOW SESSION STATUS LIKE 'Ssl_version'");
      expect((rows as Array<{ Value: string }>)[0]?.Value).toBe('');
    } finally {
      await c.close();
    }
    await expect(
      dumpConnect({
        host: plainServer.host,
        port: plainServer.port,
        ...account,
        ...mysqlTls({ mode: 'required' }),
      }),
    ).rejects.toThrow(/does not support secure connection/);
  });

  it('replicates over TLS when the mode asks for it', async () => {
    const [db1, db2] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
    const c = withTls({ mode: 'required' });
    const admin = await connectAdmin(c, db2.address);
    try {
      await startReplication(admin, {
        sourceHost: db1.host,
        sourcePort: db1.port,
        ...cluster.credentials.replication,
        gtidMode: 'slave_pos',
        timeoutMs: 30_000,
        tls: replicationTls(c.tls),
      });
      const [row] = await admin.query<{ Master_SSL_Allowed: string }>('SHOW SLAVE STATUS');
      expect(row?.Master_SSL_Allowed).toBe('Yes');
    } finally {
      await admin.close();
    }
    expect(replicationTls({ mode: 'preferred' })).toEqual({ ssl: false, verifyServerCert: false });
    expect(replicationTls({ mode: 'verify-identity', caPath: 'x' })).toEqual({
      ssl: true,
      verifyServerCert: true,
    });
  });

  it('fails over, salvages and reseeds with every watchdog session over TLS', async () => {
    const c = withTls({ mode: 'verify-ca', caPath: join(dir, 'good-ca.pem') });
    // Router verification runs the router script with the mariadb client (not a watchdog session).
    const routers = sandboxRouterSwitch(config);
    const [db1, db2] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
    await db2.query('STOP SLAVE IO_THREAD');
    const unreplicated = await cluster.writeSomething(db1, 'unreplicated');
    await db1.kill9();
    await Promise.all(cluster.routers.map((r) => cluster.waitForRouterTarget(r, db2, 60_000)));
    await db1.start();
    const reports = await Promise.all(
      cluster.groups.map((g) =>
        runCycle(
          c,
          { trigger: 'alarm', action: 'check', group: g.name, dryRun: false, force: false },
          { routers },
        ),
      ),
    );
    const master = reports.find((r) => r.operation?.role === 'master');
    expect(master?.operation).toMatchObject({
      operation: 'failover',
      outcome: 'completed',
      target: db2.address,
    });
    const steps = master!.operation!.steps;
    expect(steps.filter((s) => s.outcome === 'failed')).toEqual([]);
    expect(steps.map((s) => s.kind)).toEqual(
      expect.arrayContaining(['Fence', 'Promote', 'Salvage', 'Reseed']),
    );
    const values = master!.operation!.salvage.flatMap((t) => t.transactions).flatMap((t) => t.rows ?? []);
    expect(values.flatMap((r) => r.values)).toContain(`@1=${unreplicated.id}`);
    // The rebuilt replica's IO thread may still be on its first connection over TLS (a loaded machine:
    // CI17 saw RecoverNeeded at once); a real failure stays. What each status run saw is named.
    const seen: string[] = [];
    const after = await pollUntil(
      async () => {
        const r = await status(c);
        seen.push(`${r.analysis?.code}: ${(r.analysis?.evidence ?? []).slice(0, 3).join(' | ')}`);
        return r;
      },
      (r) => r.analysis?.code === 'Ok',
      { deadlineMs: 60_000, intervalMs: 1_000 },
    );
    expect(after.analysis?.code, seen.join('\n')).toBe('Ok');
    expect(after.analysis?.primary).toBe(db2.address);
  });
});
