/**
 * The deployed artifact, not the sources: unzip the bundle `npm run package` built, load its handler in a
 * fresh node process (no tsx, no node_modules on the path) and run checks against a real local cluster,
 * with the events the template's triggers send. Its metrics must carry the namespace and dimensions the
 * template's alarms watch, or the alarms would never see them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from '../../functions/sandbox/harness/index.js';
import { olderNode } from '../harness/older-node.js';
import {
  ARTIFACT,
  ensurePackaged,
  extractZip,
  readTemplate,
  type Template,
} from '../unit/deploy/packaged.js';

interface ChildResult {
  result: { ok: boolean; report?: Record<string, unknown>; error?: Record<string, unknown> };
  stdout: string[];
  maxRssKiB: number;
}

interface Emf {
  _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] };
  [key: string]: unknown;
}

let cluster: Cluster | undefined;
let bundleDir: string;
let template: Template;

/**
 * Runs the bundled handler once in a fresh process; the script only imports the bundle by path. `node`:
 * the Node that runs it, by default the one running the tests (Node 22, as in Lambda).
 */
function invoke(event: unknown, env: Record<string, string>, node = process.execPath): ChildResult {
  const script = `
    const { handler } = await import(${JSON.stringify(join(bundleDir, 'functions', 'watchdog.mjs'))});
    const context = {
      functionName: 'mysql-failover-test-g1', functionVersion: '$LATEST', memoryLimitInMB: '1024',
      awsRequestId: 'bundle-smoke', invokedFunctionArn: 'arn:aws:lambda:eu-west-1:111122223333:function:x',
      logGroupName: '/aws/lambda/x', logStreamName: 'x', callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => 900000,
    };
    const result = await handler(JSON.parse(process.env.SMOKE_EVENT), context);
    process.stdout.write('SMOKE_RESULT ' + JSON.stringify(result) + '\\n');
    // Exit only once the lines drained into the pipe (a report can be bigger than its buffer).
    process.stdout.write('SMOKE_RSS ' + process.resourceUsage().maxRSS + '\\n', () => process.exit(0));
  `;
  const child = spawnSync(node, ['--enable-source-maps', '--input-type=module', '-e', script], {
    // A folder without node_modules: the bundle must carry every dependency itself.
    cwd: bundleDir,
    encoding: 'utf8',
    timeout: 60_000,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      AWS_REGION: 'eu-west-1',
      SMOKE_EVENT: JSON.stringify(event),
      ...env,
    },
  });
  if (child.status !== 0) {
    throw new Error(`bundled handler exited ${child.status}:\n${child.stdout}\n${child.stderr}`);
  }
  const lines = child.stdout.split('\n').filter(Boolean);
  const resultLine = lines.find((l) => l.startsWith('SMOKE_RESULT '));
  if (!resultLine) throw new Error(`no result from the bundled handler:\n${child.stdout}\n${child.stderr}`);
  const rss = lines.find((l) => l.startsWith('SMOKE_RSS ')) ?? 'SMOKE_RSS 0';
  return {
    result: JSON.parse(resultLine.slice('SMOKE_RESULT '.length)) as ChildResult['result'],
    stdout: lines,
    maxRssKiB: Number(rss.slice('SMOKE_RSS '.length)),
  };
}

function emfLines(stdout: string[]): Emf[] {
  return stdout
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((o): o is Emf => typeof o._aws === 'object' && o._aws !== null);
}

/** The environment the template gives the function, minus what only exists in AWS. */
function lambdaEnv(configFile: string, group: string): Record<string, string> {
  const fn = Object.values(template.Resources).find((r) => r.Type === 'AWS::Lambda::Function');
  if (!fn) throw new Error('the template has no function');
  const vars = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
  const plain = Object.fromEntries(
    Object.entries(vars).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
  );
  // SSM, Secrets Manager and S3 have no local server: the config comes from a file instead.
  delete plain.CONFIG_SSM_PATH;
  delete plain.DB_SECRET_ARN;
  delete plain.REPLICATION_SECRET_ARN;
  // Nor SSM Run Command: this cluster's routers are switched by the router script on this host
  // (the production-shaped tests run the SSM path against the stand-in).
  delete plain.ROUTER_DOCUMENT;
  delete plain.RESEED_DOCUMENT;
  return { ...plain, GROUP: group, CONFIG_FILE: configFile };
}

beforeAll(async () => {
  ensurePackaged();
  template = readTemplate();
  bundleDir = mkdtempSync(join(tmpdir(), 'mf-bundle-'));
  extractZip(ARTIFACT, bundleDir);
  cluster = await startCluster({ servers: 2, groups: 1, name: 'bundle' });
}, 240_000);

afterAll(async () => {
  await cluster?.stop();
  if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
});

describe('bundled handler', () => {
  it('ships only the bundle, its lazily loaded chunks and their source maps, without node_modules', () => {
    const listing = mkdtempSync(join(tmpdir(), 'mf-bundle-list-'));
    try {
      const files = extractZip(ARTIFACT, listing).sort();
      expect(files).toContain('functions/watchdog.mjs');
      expect(files).toContain('functions/watchdog.mjs.map');
      const others = files.filter((f) => !f.startsWith('functions/watchdog.mjs'));
      expect(others.length).toBeGreaterThan(0);
      for (const file of others) expect(file).toMatch(/^functions\/chunks\/[\w-]+\.mjs(\.map)?$/);
      // every chunk has its map, and the entry imports only chunks that were shipped
      for (const file of others.filter((f) => f.endsWith('.mjs'))) expect(files).toContain(`${file}.map`);
      const entry = readFileSync(join(listing, 'functions/watchdog.mjs'), 'utf8');
      for (const [, chunk] of entry.matchAll(/"\.\/(chunks\/[\w-]+\.mjs)"/g)) {
        expect(files).toContain(`functions/${chunk}`);
      }
    } finally {
      rmSync(listing, { recursive: true, force: true });
    }
    expect(existsSync(join(bundleDir, 'node_modules'))).toBe(false);
  });

  it('checks the local cluster when started by the schedule input of the template', () => {
    const rule = Object.values(template.Resources).find(
      (r) => r.Type === 'AWS::Events::Rule' && r.Properties.ScheduleExpression !== undefined,
    );
    if (!rule) throw new Error('the template has no schedule rule');
    const input = JSON.parse((rule.Properties.Targets as { Input: string }[])[0]!.Input) as Record<
      string,
      unknown
    >;
    const event = { ...input, group: 'g1' };
    const { result, stdout, maxRssKiB } = invoke(event, lambdaEnv(cluster!.configFile(), 'g1'));
    expect(result.ok, JSON.stringify(result.error)).toBe(true);
    expect(result.report).toMatchObject({
      cluster: 'bundle',
      group: 'g1',
      trigger: 'schedule',
      action: 'check',
    });
    expect(result.report?.analysis).toMatchObject({ code: 'Ok' });
    // Informational: peak memory of one check, the basis of the memorySize choice in docs/deployment.md.
    console.log(`bundled handler: one check, peak RSS ${Math.round(maxRssKiB / 1024)} MiB`);
    const emf = emfLines(stdout);
    expect(emf.length).toBeGreaterThan(0);
  });

  it('emits ClusterState with exactly the namespace and dimensions the template alarms watch', () => {
    const { stdout } = invoke({ action: 'check', group: 'g1' }, lambdaEnv(cluster!.configFile(), 'g1'));
    const state = emfLines(stdout).find((e) =>
      e._aws.CloudWatchMetrics.some((m) => m.Metrics.some((x) => x.Name === 'ClusterState')),
    );
    expect(state, 'an EMF record with ClusterState').toBeDefined();
    const directive = state!._aws.CloudWatchMetrics[0]!;
    const alarm = Object.values(template.Resources).find(
      (r) => r.Type === 'AWS::CloudWatch::Alarm' && r.Properties.MetricName === 'ClusterState',
    );
    const alarmDimensions = alarm?.Properties.Dimensions as { Name: string; Value: string }[];
    expect(directive.Namespace).toBe(alarm?.Properties.Namespace);
    expect(directive.Dimensions.map((set) => [...set].sort())).toContainEqual(
      alarmDimensions.map((d) => d.Name).sort(),
    );
    expect(state!.ClusterState).toBe(0);
    expect(state!.service).toBe(alarmDimensions.find((d) => d.Name === 'service')?.Value);
    expect(state!.cluster).toBe('bundle');
    expect(state!.group).toBe('g1');
  });

  // The bundle targets node22 (nodejs22.x) and keeps running on Node 20: a machine whose own node is
  // older runs the tests on Node 22 from .node/, and its own node runs the same artifact here.
  const older = olderNode();
  it.skipIf(!older)(
    `checks the local cluster on the machine's older node too (${older?.version ?? 'none'})`,
    () => {
      const { result } = invoke(
        { action: 'check', group: 'g1' },
        lambdaEnv(cluster!.configFile(), 'g1'),
        older!.path,
      );
      expect(result.ok, JSON.stringify(result.error)).toBe(true);
      expect(result.report?.analysis).toMatchObject({ code: 'Ok' });
    },
  );

  it('refuses a malformed console event with a message naming the accepted events', () => {
    const { result } = invoke({ action: 'explode' }, lambdaEnv(cluster!.configFile(), 'g1'));
    expect(result.ok).toBe(false);
    expect(String(result.error?.message)).toMatch(/action/);
  });
});
