/**
 * The production path end to end: the bundle exactly as `npm run package` zips it, one function per
 * backend group of a `deploy/sample.yml`-shaped deployment (groups found by EC2 tag), configured from an
 * SSM parameter with credentials from Secrets Manager, started by the template's event shapes, its AWS
 * calls answered by the stand-in (functions/sandbox/aws-standin) through AWS_ENDPOINT_URL, routers
 * switched by the real SSM document's script run as the agent runs it, S3 a real local endpoint. Each
 * group's router is of the kind deploy/sample.yml gives it: `web` a real MySQL Router 9.7 (its
 * mysqlrouter.conf rewritten and the router restarted by router-switch-mysqlrouter.json), `api` HAProxy.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { main } from '../../functions/cli.js';
import {
  type Cluster,
  MysqlRouter,
  type RouterKindName,
  startCluster,
} from '../../functions/sandbox/harness/index.js';
import { ROOT, readTemplate } from '../../functions/sandbox/production/bundle.js';
import {
  productionEvents as events,
  type InvokeOutcome,
  ProductionEnvironment,
  TAG_KEY,
} from '../../functions/sandbox/production/environment.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON-shaped test access
type Json = any;

const sample = parse(readFileSync(join(ROOT, 'deploy', 'sample.yml'), 'utf8')) as Json;
/** The sample's router kind of each group, in its order (web: MySQL Router, api: HAProxy). */
const sampleKinds = sample.watchdog.groups.map((g: Json) => g.routerKind) as RouterKindName[];
let cluster: Cluster;
let env: ProductionEnvironment;

beforeAll(async () => {
  cluster = await startCluster({
    servers: 2,
    groups: sampleKinds.length,
    name: sample.cluster,
    routerKinds: sampleKinds,
    // MySQL Router with routing_strategy = first-available, the ordered strategy the router script
    // recommends: with next-available one connect that times out on a loaded machine would leave the
    // live primary unused until a restart. (HAProxy then fails back as plain HAProxy does; the old
    // primary never comes back here.)
    routerMode: 'failback',
  });
  env = await ProductionEnvironment.start({
    cluster,
    groupNames: sample.groups.map((g: Json) => g.name),
    configExtra: {
      election: { leaseMs: 10_000, followerTimeoutMs: 60_000, pollMs: 100 },
      // Connect timeouts for a loaded 2-core machine (several cold starts and servers at once).
      timeouts: { connectMs: 5_000, queryMs: 10_000, deadlineMarginMs: 20_000 },
    },
  });
}, 240_000);

afterAll(async () => {
  await env?.stop();
  await cluster?.stop();
});

function report(o: InvokeOutcome): Json {
  if (!o.result)
    throw new Error(`${o.group}: the function threw ${JSON.stringify(o.thrown)}\n${o.stdout.join('\n')}`);
  return o.result.report;
}

/** The FailedCycle values the function wrote as CloudWatch embedded metrics. */
function failedCycle(o: InvokeOutcome): number[] {
  return o.stdout
    .filter((l) => l.includes('"FailedCycle"') && l.includes('"_aws"'))
    .map((l) => Number((JSON.parse(l) as Json).FailedCycle));
}

async function routersOn(server: Cluster['servers'][number]): Promise<void> {
  await Promise.all(cluster.routers.map((r) => cluster.waitForRouterTarget(r, server, 60_000)));
}

describe('the deployed bundle, against the AWS stand-in', () => {
  it("is configured like deploy/sample.yml: groups found by the stage's tag, the document from SSM, credentials from Secrets Manager", () => {
    const doc = env.configDocument() as Json;
    expect(doc.groups.map((g: Json) => g.name)).toEqual(sample.watchdog.groups.map((g: Json) => g.name));
    for (const [i, g] of doc.groups.entries()) {
      expect(Object.keys(g).sort()).toEqual(Object.keys(sample.watchdog.groups[i]).sort());
      expect(g.ec2Tag).toEqual({ key: sample.routers.tagKey, value: g.name });
      // each group's router is of the sample's kind, at the sample's config path, on its router's port
      expect(g.routerKind).toBe(sample.watchdog.groups[i].routerKind);
      expect(g.configPath).toBe(sample.watchdog.groups[i].configPath);
      expect(cluster.groups[i]!.routers[0]!.kind).toBe(g.routerKind);
      expect(g.routerPort).toBe(cluster.groups[i]!.routers[0]!.port);
    }
    expect(sampleKinds).toEqual(['mysqlrouter', 'haproxy']);
    expect(TAG_KEY).toBe(sample.routers.tagKey);
    expect(doc.credentials).toBeUndefined();
    // the functions get the environment the template gives them, variable for variable
    const template = readTemplate();
    const fn = Object.values(template.Resources).find((r) => r.Type === 'AWS::Lambda::Function')!;
    const vars = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(Object.keys(env.functionEnv('web')).sort()).toEqual(Object.keys(vars).sort());
  });

  it('checks on the schedule: routers found by tag, Ok, no FailedCycle series while healthy', async () => {
    const outcomes = await Promise.all(env.groups.map((g) => env.invoke(g, events.schedule(g))));
    for (const o of outcomes) {
      const r = report(o);
      expect(r.analysis.code).toBe('Ok');
      expect(r.discovery).toEqual(env.groups.map((g) => ({ group: g, source: 'ec2-tag', found: 1 })));
      // FailedCycle is published only for a failed run: a healthy one costs no series-hour.
      expect(failedCycle(o)).toEqual([]);
    }
    expect(env.standin.calls).toContain('DescribeInstances');
    expect(env.standin.calls).toContain('GetParametersByPath');
    expect(env.standin.calls).toContain('GetSecretValue');
  });

  it('is started by every event shape in events/ (named for the sample stage) and by its own continuation', async () => {
    const file = (name: string): unknown =>
      JSON.parse(readFileSync(join(ROOT, 'events', `${name}.json`), 'utf8'));
    const shapes: Array<[string, unknown, string]> = [
      ['schedule', file('schedule'), 'schedule'],
      ['eventbridge-scheduled', file('eventbridge-scheduled'), 'schedule'],
      ['alarm-state-change', file('alarm-state-change'), 'alarm'],
      ['alarm-sns', file('alarm-sns'), 'alarm'],
      ['console-status', file('console-status'), 'console'],
      ['console-check', file('console-check'), 'console'],
      [
        'continuation',
        {
          source: 'mysql-failover.continuation',
          group: 'web',
          resume: { operation: 'recover', openedEpoch: 1 },
        },
        'continuation',
      ],
    ];
    // One after the other: each is a cold start of the bundle, and the machine may be loaded.
    const outcomes: InvokeOutcome[] = [];
    for (const [, event] of shapes) outcomes.push(await env.invoke('web', event));
    outcomes.forEach((o, i) => {
      const [name, , trigger] = shapes[i]!;
      expect(o.result?.ok, `${name}: ${JSON.stringify(o.thrown ?? o.result?.error)}`).toBe(true);
      expect(report(o)).toMatchObject({ group: 'web', trigger, analysis: { code: 'Ok' } });
    });
    const malformed = await env.invoke('web', file('console-malformed'));
    expect(malformed.result).toMatchObject({ ok: false, error: { code: 'EventValidationError' } });
  });

  it("the CLI reads the deployed configuration with the operator's credentials and reads the routers through SSM", async () => {
    const saved = { ...process.env };
    // The SDK's standard settings, as on an operator's bastion (here: pointing at the stand-in).
    Object.assign(process.env, env.standin.sdkEnv(), {
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
    });
    try {
      const lines: string[] = [];
      const io = {
        out: (t: string) => lines.push(t),
        err: (t: string) => lines.push(t),
        env: {
          ...process.env,
          CONFIG_SSM_PATH: env.configSsmPath,
          DB_SECRET_ARN: env.secrets.database,
          REPLICATION_SECRET_ARN: env.secrets.replication,
          ROUTER_DOCUMENT: env.documentName,
        },
      };
      expect(await main(['status', '--json'], io), lines.join('\n')).toBe(0);
      const status = JSON.parse(lines.join('\n')) as Json;
      expect(status.analysis.code).toBe('Ok');
      expect(status.discovery.map((d: Json) => [d.group, d.source, d.found])).toEqual(
        env.groups.map((g) => [g, 'ec2-tag', 1]),
      );
      lines.length = 0;
      const commands = env.standin.commands.size;
      expect(await main(['routers', 'status', '--routers', 'ssm', '--json'], io), lines.join('\n')).toBe(0);
      const results = JSON.parse(lines.join('\n')) as Json[];
      expect(results.map((r) => r.outcome)).toEqual(['status', 'status']);
      for (const r of results) {
        expect(r.routers[0].target).toMatch(/^i-0/);
        expect(r.routers[0].invocationStatus).toBe('Success');
      }
      expect(env.standin.commands.size).toBe(commands + 2);
      // --routers ssm with a configuration that names router addresses only is refused at load
      lines.length = 0;
      const local = {
        ...io,
        env: { ...io.env, CONFIG_SSM_PATH: '', DB_SECRET_ARN: '', REPLICATION_SECRET_ARN: '' },
      };
      expect(await main(['status', '--routers', 'ssm', '--config', cluster.configFile()], local)).toBe(2);
      expect(lines.join('\n')).toContain('instanceId');
    } finally {
      process.env = saved;
    }
  });

  it('changes no server while a group has no router instance, alerts once, and refuses a config SSM cannot switch', async () => {
    const [primary, replica] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
    const api = env.standin.instances.find((i) => i.tags[TAG_KEY] === 'api')!;
    api.state = 'stopped';
    try {
      await primary.kill9();
      await routersOn(replica);
      const before = await cluster.replicationStatus(replica);
      const published = env.standin.published.length;
      const commands = env.standin.commands.size;
      const [web] = await Promise.all([
        env.invoke('web', events.alarm('shop-db-primary-unreachable')),
        env.invoke('api', events.snsAlarm('shop-db-primary-unreachable')),
      ]);
      const r = report(web!);
      expect(r.analysis.code).toBe('RoutersUnknown');
      expect(r.analysis.evidence[0]).toContain("group api: no running instance carries the group's tag");
      expect(r.plan.kind).toBe('alert-only');
      expect(r.operation).toBeUndefined();
      // nothing changed: the replica still has its replication configured and is not promoted further
      const after = await cluster.replicationStatus(replica);
      expect(after?.Master_Port).toBe(before?.Master_Port);
      expect(env.standin.commands.size).toBe(commands);
      const alerts = env.standin.published
        .slice(published)
        .filter((p) => p.subject?.includes('RoutersUnknown'));
      expect(alerts.length).toBe(2); // one per group: the state changed
      // the next scheduled run of the same state sends nothing
      await env.invoke('web', events.schedule('web'));
      expect(
        env.standin.published.slice(published).filter((p) => p.subject?.includes('web: RoutersUnknown')),
      ).toHaveLength(1);
    } finally {
      api.state = 'running';
    }
    // A router listed by address, without an instance id, cannot be switched through SSM: refused at load.
    const bad = { ...(env.configDocument() as Json) };
    bad.groups = [
      {
        name: 'api',
        routerKind: 'haproxy',
        routers: [cluster.groups[1]!.routers[0]!.address],
        configPath: '/etc/haproxy/haproxy.cfg',
      },
    ];
    env.standin.putParameter('/mysql-failover/bad/config', JSON.stringify(bad));
    const refused = await env.invoke('api', events.schedule('api'), {
      env: { CONFIG_SSM_PATH: '/mysql-failover/bad' },
    });
    expect(refused.thrown).toMatchObject({ code: 'CycleFailedError' });
    expect(refused.thrown?.message).toContain('groups.0.routers.0.instanceId');
    expect(failedCycle(refused)).toEqual([1]);
    const answered = await env.invoke('api', events.console('check', 'api'), {
      env: { CONFIG_SSM_PATH: '/mysql-failover/bad' },
    });
    expect(answered.result).toMatchObject({ ok: false, error: { code: 'ConfigError' } });
  }, 240_000);

  it('handles the primary death once the routers are known again: promotes the replica and switches every router through SSM', async () => {
    const [primary, replica] = cluster.servers as [Cluster['servers'][number], Cluster['servers'][number]];
    const mysqlRouters = cluster.routers.filter((r) => r instanceof MysqlRouter);
    expect(mysqlRouters.length).toBeGreaterThan(0);
    const pidsBefore = mysqlRouters.map((r) => r.pid);
    const [web, api] = await Promise.all([
      env.invoke('web', events.alarm('shop-db-primary-unreachable')),
      env.invoke('api', events.snsAlarm('shop-db-primary-unreachable')),
    ]);
    const reports = [report(web!), report(api!)];
    // The function that opens the operation analysed PrimaryDead; one started a moment later may
    // already see the operation recorded, and follows it through the election.
    expect(reports.map((r) => r.analysis.code)).toContain('PrimaryDead');
    for (const r of reports) expect(['PrimaryDead', 'OperationInProgress']).toContain(r.analysis.code);
    const master = reports.find((r) => r.operation?.role === 'master');
    expect(master, JSON.stringify(reports.map((r) => r.operation))).toBeDefined();
    expect(master.operation).toMatchObject({ outcome: 'completed', target: replica.address });
    const kinds = master.operation.steps.map((s: Json) => `${s.kind}:${s.outcome}`);
    expect(kinds).toEqual(
      expect.arrayContaining(['Promote:done', 'SwitchRouters:done', 'VerifyRouters:done']),
    );
    for (const o of [web!, api!]) expect(o.result?.ok).toBe(true);
    // every router was switched by the document's script on its instance, and reported Success
    await env.standin.settled();
    const invocations = [...env.standin.commands.values()].flatMap((c) => c.invocations);
    expect(new Set(invocations.map((i) => i.instanceId))).toEqual(
      new Set(env.standin.instances.map((i) => i.instanceId)),
    );
    for (const i of invocations) expect(i.run?.status, i.run?.stderr).toBe('Success');
    // each group's router was switched by its own kind's document, at the sample's config path
    const switched = [...env.standin.commands.values()].filter((c) => c.parameters.Action?.[0] !== 'status');
    for (const [gi, g] of cluster.groups.entries()) {
      const kind = sample.watchdog.groups[gi].routerKind;
      const command = switched.find((c) => c.documentName === `${env.documentName}-${kind}`);
      expect(command?.parameters.ConfigPath, kind).toEqual([sample.watchdog.groups[gi].configPath]);
      for (const r of g.routers) expect(r.kind).toBe(kind);
    }
    // on the MySQL Router instances, the document applied the rewrite by restarting the router (the
    // instance's RS_APPLY_COMMAND) and verified the new primary answers through it
    const results = switched
      .filter((c) => c.documentName === `${env.documentName}-mysqlrouter`)
      .flatMap((c) => c.invocations)
      .map((i) => JSON.parse(i.run!.stdout.trim().split('\n').pop()!) as Json);
    // (a later switch to the same destinations finds them in place and changes nothing)
    for (const result of results) expect(result.ok, result.message).toBe(true);
    const changed = results.filter((r) => r.changed);
    expect(changed, JSON.stringify(results.map((r) => r.message))).toHaveLength(mysqlRouters.length);
    for (const result of changed) {
      expect(result).toMatchObject({
        ok: true,
        kind: 'mysqlrouter',
        config: '/etc/mysqlrouter/mysqlrouter.conf',
        changed: true,
        applied: 'command',
        destinations: [replica.address],
        fenced: [primary.address],
        verify: { status: 'ok' },
      });
    }
    mysqlRouters.forEach((r, i) => {
      expect(r.pid).not.toBeNull();
      expect(r.pid, `${r.name} was restarted`).not.toBe(pidsBefore[i]);
    });
    for (const r of cluster.routers) {
      const cfg = readFileSync(r.configPath, 'utf8');
      if (r instanceof MysqlRouter) {
        // the document rewrote the destinations line of mysqlrouter.conf (the fenced primary left out)
        // and restarted the router on it; the file it replaced is in the instance's backup folder
        expect(cfg.split('\n').filter((l) => l.startsWith('destinations'))).toEqual([
          `destinations = ${replica.address}`,
        ]);
        const backups = readdirSync(join(r.baseDir, 'backups')).filter((f) => f.endsWith('.bak'));
        expect(backups.length).toBeGreaterThan(0);
        const before = readFileSync(join(r.baseDir, 'backups', backups[0]!), 'utf8');
        expect(before.split('\n').filter((l) => l.startsWith('destinations'))).toEqual([
          `destinations = ${primary.address},${replica.address}`,
        ]);
      } else {
        expect(cfg).toContain(`${replica.host}:${replica.port}`);
        expect(cfg).not.toMatch(new RegExp(`server \\S+ ${primary.host}:${primary.port}\\b(?!.*disabled)`));
      }
    }
    await routersOn(replica);
    expect(await replica.query('SELECT @@read_only AS ro')).toEqual([{ ro: '0' }]);
    expect(await cluster.replicationStatus(replica)).toBeNull();
    // an operation summary went to SNS
    expect(
      env.standin.published.some(
        (p) => p.topicArn === env.topicArn && /promote-dead/.test(p.subject ?? p.message),
      ),
    ).toBe(true);
  }, 300_000);

  it('answers a repeated manual action with the first result and runs nothing again', async () => {
    const ask = { requestId: 'incident-2026-12-02' };
    const first = await env.invoke('web', events.console('recover', 'web', ask));
    const operationsBefore = env.standin.commands.size;
    const again = await env.invoke('web', events.console('recover', 'web', ask));
    expect(first.result?.requestId).toBe('incident-2026-12-02');
    expect(again.result).toMatchObject({ requestId: 'incident-2026-12-02', repeated: true });
    expect(again.result?.report?.startedAt).toBe(first.result?.report?.startedAt);
    expect(env.standin.commands.size).toBe(operationsBefore);
    // without a request id, the id is derived from the request: the same request is a repeat too
    const derived = await env.invoke('web', events.console('recover', 'web'));
    const repeat = await env.invoke('web', events.console('recover', 'web'));
    expect(derived.result?.requestId).toMatch(/^derived-/);
    expect(repeat.result).toMatchObject({ requestId: derived.result?.requestId, repeated: true });
  }, 240_000);
});
