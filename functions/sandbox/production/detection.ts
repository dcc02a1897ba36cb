/**
 * The detection path of a deployment, as the stack deploys it, around a ProductionEnvironment:
 *   - the CloudFormation template of the deployment, packaged by osls from a deployment file exactly as
 *     `npm run package`/`npm run deploy` do (DEPLOY_CONFIG), in a folder of its own;
 *   - the backend watcher installed on every stand-in instance by the template's SSM document
 *     (WatcherInstallDocument), with the parameters of the template's State Manager association of the
 *     instance's group, run the way the SSM Agent runs it; then started as its systemd unit starts it
 *     (`/bin/bash <script>`, the installed settings file), in the instance's mount namespace (its router
 *     folder at the path the document names), with the instance role's credentials from an IMDSv2
 *     stand-in, and EventBridge at the AWS stand-in's endpoint;
 *   - EventBridge served by the AWS stand-in (../eventbridge.ts: the signature checked as AWS does),
 *     with the template's rules on the detection bus, each starting its function's bundle with the
 *     envelope EventBridge delivers; the template's schedules on their rate; a function with reserved
 *     concurrency 1 runs its events one at a time (Lambda queues asynchronous events).
 * Nothing else starts a function: no alarm, no test invoke (a caller may still send console events
 * through `invoke`, which takes the same queue).
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { StandinInstance } from '../aws-standin/server.js';
import {
  bindMounts,
  type CommandDocument,
  resolveParameters,
  runShellScriptStep,
} from '../aws-standin/ssm-agent.js';
import { EventBridgeStandIn, type EventPattern } from '../eventbridge.js';
import { WatcherProcess } from '../watcher.js';
import { ROOT, type Template } from './bundle.js';
import type { InvokeOutcome, ProductionEnvironment } from './environment.js';
import { type ImdsStandIn, startImds } from './imds.js';

/**
 * The deployment file of an environment's cluster: deploy/sample.yml with its cluster name, SSM path,
 * groups, and a `watchdog:` block naming its servers and routers (what the associations install from).
 */
export function deploymentFileOf(env: ProductionEnvironment): string {
  const raw = parseYaml(readFileSync(join(ROOT, 'deploy', 'sample.yml'), 'utf8')) as Json;
  const doc = env.configDocument();
  raw.cluster = env.clusterName;
  raw.configSsmPath = env.configSsmPath;
  raw.groups = env.groups.map((name) => ({ name }));
  raw.watchdog = { servers: doc.servers, groups: doc.groups };
  return stringifyYaml(raw);
}

/** Packages the template of `deploymentYaml` (stage `stage`) into `dir`; returns it. */
export function packageDeployment(deploymentYaml: string, stage: string, dir: string): Template {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${stage}.yml`);
  writeFileSync(file, deploymentYaml);
  const out = join(dir, 'package');
  const result = spawnSync(
    'bash',
    ['scripts/with-node.sh', 'osls', 'package', '--stage', stage, '--package', out],
    {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, DEPLOY_CONFIG: file, npm_config_update_notifier: 'false' },
      timeout: 300_000,
    },
  );
  if (result.status !== 0) {
    throw new Error(`osls package failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  }
  return JSON.parse(readFileSync(join(out, 'cloudformation-template-update-stack.json'), 'utf8')) as Template;
}

export interface TriggeredRun {
  group: string;
  /** What started it: a rule of the detection bus, a schedule, or a caller's console event. */
  trigger: 'watcher' | 'schedule' | 'console';
  queuedAtMs: number;
  startMs: number;
  endMs: number;
  outcome: InvokeOutcome;
}

interface FunctionOfTemplate {
  logicalId: string;
  group: string;
  reservedConcurrency: number | null;
}

type Json = Record<string, unknown>;
const getAttTarget = (arn: unknown): string | undefined =>
  ((arn as { 'Fn::GetAtt'?: [string, string] } | undefined)?.['Fn::GetAtt'] ?? [])[0];

/** The functions of a template, by logical id: their group and reserved concurrency. */
export function templateFunctions(template: Template): Map<string, FunctionOfTemplate> {
  const out = new Map<string, FunctionOfTemplate>();
  for (const [logicalId, r] of Object.entries(template.Resources)) {
    if (r.Type !== 'AWS::Lambda::Function') continue;
    const vars = (r.Properties.Environment as { Variables?: Json } | undefined)?.Variables ?? {};
    const reserved = r.Properties.ReservedConcurrentExecutions;
    out.set(logicalId, {
      logicalId,
      group: String(vars.GROUP),
      reservedConcurrency: typeof reserved === 'number' ? reserved : null,
    });
  }
  return out;
}

/** The rules of the template's detection bus: name, event pattern, target group. */
export function detectionRules(
  template: Template,
): Array<{ name: string; busLogicalId: string; pattern: EventPattern; group: string }> {
  const functions = templateFunctions(template);
  const rules = [];
  for (const [logicalId, r] of Object.entries(template.Resources)) {
    if (r.Type !== 'AWS::Events::Rule' || !r.Properties.EventBusName) continue;
    const bus = getAttTarget(r.Properties.EventBusName);
    const target = getAttTarget((r.Properties.Targets as Json[])[0]?.Arn);
    const fn = target ? functions.get(target) : undefined;
    if (!bus || !fn) throw new Error(`rule ${logicalId}: bus or target not understood`);
    rules.push({
      name: String(r.Properties.Name ?? logicalId),
      busLogicalId: bus,
      pattern: r.Properties.EventPattern as EventPattern,
      group: fn.group,
    });
  }
  return rules;
}

export class DeployedDetection {
  readonly bridge: EventBridgeStandIn;
  readonly runs: TriggeredRun[] = [];
  readonly watchers: WatcherProcess[] = [];
  private readonly imds: ImdsStandIn[] = [];
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly pending = new Set<Promise<TriggeredRun>>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly functions: Map<string, FunctionOfTemplate>;

  constructor(
    readonly env: ProductionEnvironment,
    readonly template: Template,
  ) {
    this.functions = templateFunctions(template);
    this.bridge = new EventBridgeStandIn(env.standin.region);
  }

  /** The detection bus's name, as the template names it. */
  busName(): string {
    const bus = Object.values(this.template.Resources).find((r) => r.Type === 'AWS::Events::EventBus');
    if (!bus) throw new Error('the template has no EventBridge bus');
    return String(bus.Properties.Name);
  }

  private reserved(group: string): number | null {
    return [...this.functions.values()].find((f) => f.group === group)?.reservedConcurrency ?? null;
  }

  /**
   * An asynchronous invocation of a group's function: with reserved concurrency 1 it waits for the
   * group's previous one (Lambda keeps the event in its queue and retries the throttled delivery).
   */
  invoke(group: string, event: unknown, trigger: TriggeredRun['trigger']): Promise<TriggeredRun> {
    const queuedAtMs = Date.now();
    const run = async (): Promise<TriggeredRun> => {
      const startMs = Date.now();
      const outcome = await this.env.invoke(group, event);
      const done = { group, trigger, queuedAtMs, startMs, endMs: Date.now(), outcome };
      this.runs.push(done);
      return done;
    };
    let result: Promise<TriggeredRun>;
    if (this.reserved(group) === 1) {
      const previous = this.queues.get(group) ?? Promise.resolve();
      result = previous.then(run, run);
      this.queues.set(group, result);
    } else {
      result = run();
    }
    this.pending.add(result);
    void result.finally(() => this.pending.delete(result));
    return result;
  }

  /** Resolves once every invocation started so far (and those they queued) has ended. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** Serves the detection bus at the AWS stand-in and wires the template's rules and schedules. */
  wireTriggers(): void {
    this.env.standin.eventBridge = this.bridge;
    const busName = this.busName();
    for (const rule of detectionRules(this.template)) {
      this.bridge.addRule({
        name: rule.name,
        eventBusName: busName,
        pattern: rule.pattern,
        target: (event) => void this.invoke(rule.group, event, 'watcher'),
      });
    }
    for (const r of Object.values(this.template.Resources)) {
      if (r.Type !== 'AWS::Events::Rule' || !r.Properties.ScheduleExpression) continue;
      const m = /^rate\((\d+) minutes?\)$/.exec(String(r.Properties.ScheduleExpression));
      const target = (r.Properties.Targets as Json[])[0]!;
      const fn = this.functions.get(getAttTarget(target.Arn) ?? '');
      if (!m || !fn) throw new Error(`schedule ${String(r.Properties.ScheduleExpression)} not understood`);
      const input = JSON.parse(String(target.Input)) as unknown;
      this.timers.push(
        setInterval(() => void this.invoke(fn.group, input, 'schedule'), Number(m[1]) * 60_000),
      );
    }
  }

  /**
   * Runs the template's watcher install document on every instance its associations target, then
   * starts each installed watcher as its unit does. Resolves once every watcher reported that it watches.
   */
  async installWatchers(): Promise<void> {
    const docResource = Object.values(this.template.Resources).find(
      (r) => r.Type === 'AWS::SSM::Document' && String(r.Properties.Name).endsWith('-watcher-install'),
    );
    if (!docResource) throw new Error('the template has no watcher install document');
    const document = docResource.Properties.Content as CommandDocument;
    const associations = Object.values(this.template.Resources).filter(
      (r) => r.Type === 'AWS::SSM::Association' && String(r.Properties.AssociationName).endsWith('-watcher'),
    );
    const region = this.env.standin.region;
    for (const association of associations) {
      const [target] = association.Properties.Targets as Array<{ Key: string; Values: string[] }>;
      const tagKey = target!.Key.replace(/^tag:/, '');
      const instances = this.env.standin.instances.filter((i) =>
        target!.Values.includes(i.tags[tagKey] ?? ''),
      );
      const parameters = resolveParameters(
        document,
        association.Properties.Parameters as Record<string, string[]>,
      );
      for (const instance of instances) {
        const root = join(instance.dir, 'root');
        const run = await runShellScriptStep(
          document,
          parameters,
          { ...instance, env: { ...instance.env, MFW_INSTALL_ROOT: root } },
          randomUUID(),
          region,
        );
        const last = run.stdout.trim().split('\n').at(-1) ?? '';
        if (run.status !== 'Success' || !last.includes('"ok":true')) {
          throw new Error(
            `watcher install on ${instance.instanceId}: ${run.status}\n${run.stdout}\n${run.stderr}`,
          );
        }
        await this.startWatcher(instance, root);
      }
    }
    await Promise.all(this.watchers.map((w) => w.waitForOutput('watcher: up:', 120_000)));
  }

  private async startWatcher(instance: StandinInstance, root: string): Promise<void> {
    const imds = await startImds({
      region: this.env.standin.region,
      instanceId: instance.instanceId,
      credentials: this.bridge.credentials,
    });
    this.imds.push(imds);
    const unit = readFileSync(join(root, 'etc/systemd/system/mysql-failover-watcher.service'), 'utf8');
    const exec = /^ExecStart=(\S+) (\S+)$/m.exec(unit);
    if (!exec) throw new Error(`unexpected unit:\n${unit}`);
    const script = join(root, exec[2]!);
    const binds = instance.binds ?? [];
    // The instance's own files at the paths the document named (its router folder), as for the agent.
    const mounts = bindMounts(binds.length);
    const watcher = new WatcherProcess({
      dir: instance.dir,
      name: `watcher-${instance.instanceId}`,
      env: {
        // The settings the installer wrote, read as the unit's default path would be.
        MFW_SETTINGS_FILE: join(root, 'etc/mysql-failover/watcher.env'),
        // A systemd drop-in's Environment= lines: this host's stand-ins instead of AWS's endpoints.
        MFW_ENDPOINT: this.env.standin.url,
        MFW_IMDS_ENDPOINT: imds.url,
      },
      command: {
        file: 'unshare',
        args: [
          '--mount',
          '--propagation',
          'private',
          'sh',
          '-c',
          `${mounts} exec "$${2 * binds.length + 1}" "$${2 * binds.length + 2}"`,
          'watcher',
          ...binds.flatMap((b) => [b.from, b.to]),
          exec[1]!,
          script,
        ],
      },
    });
    watcher.start();
    this.watchers.push(watcher);
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await Promise.all(this.watchers.map((w) => w.stop()));
    await Promise.all(this.imds.map((i) => i.stop()));
    this.env.standin.eventBridge = undefined;
  }
}
