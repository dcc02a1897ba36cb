/**
 * `repl-watchdog`: the command line. Thin: parse arguments, load the configuration, call the same core
 * the Lambda handler calls, print the result (readable, or `--json`). Returns the exit code.
 */
import { parseArgs } from 'node:util';
import { OperatorAws } from './aws/operator.js';
import { discoverRouters } from './cluster/discovery.js';
import type { Config } from './config/schema.js';
import { loadConfig } from './config/sources.js';
import { UsageError, WatchdogError } from './errors.js';
import { type CycleDeps, type CycleReport, runCycle } from './operations/cycle.js';
import { formatCycleReport, formatStatus } from './operations/status-view.js';
import type { Action } from './triggers/events.js';

const HELP = `repl-watchdog — failover watchdog for MySQL/MariaDB primary-replica clusters

Usage:
  repl-watchdog --now [--group G] [--action A] [--dry-run] [--force --target H:P [--allow-data-loss] [--reason TEXT]]
                                                                       run one cycle (every group, or G)
  repl-watchdog status [--group G]                                     servers, replication, routers, operation
  repl-watchdog sandbox [--keep] [--servers 2|3] [--flavor mariadb|mysql] [--production]
                                                                       local cluster and failover drill
                                                                       (--production: the packaged bundle
                                                                       against the AWS stand-in)
  repl-watchdog routers status [--group G]                             where each router sends new connections
  repl-watchdog routers switch --group G --to HOST:PORT [--fence HOST:PORT] [--dry-run]
                                                                       rewrite a group's router destinations
  repl-watchdog maintenance start (--server H:P|NAME | --cluster) --reason TEXT [--minutes N]
  repl-watchdog maintenance end (--server H:P|NAME | --cluster)
  repl-watchdog maintenance list                                       windows in force (on every server)
  repl-watchdog adopt [--config FILE]                                  look at a running cluster (the original
                                                                       script's): what is there, the configuration
                                                                       it needs, what the first run would do (dry)
  repl-watchdog dump --from HOST:PORT --to s3://BUCKET/PREFIX|DIR      streaming gzipped dump (dump --help)
  repl-watchdog restore --from s3://BUCKET/PREFIX|DIR --into HOST:PORT restore a dump, ours or mysqldump (restore --help)

Options:
  --config FILE   configuration file (JSON or YAML); default: $CONFIG_FILE, $CONFIG_SSM_PATH or $MF_CONFIG
  --json          print JSON instead of the readable view
  --dry-run       plan and report, change nothing
  --force         an operator's failover or switchover to --target: overrides the anti-flap period, the
                  promotion rules and the split-brain policy; refused when the target lacks transactions
                  another reachable server holds, unless --allow-data-loss as well
  --allow-data-loss  with --force: promote the target anyway (its missing transactions are salvaged)
  --reason TEXT   with --force: recorded with the operation (audit, history)
  --action A      check (default) | failover | recover | switchover
  --target H:P    switchover, forced failover: the replica to promote
  --routers M     local (default): the router script on this host | ssm: SSM Run Command, as the function
  --document D    with --routers ssm: the stack's RouterSwitch document (default: $ROUTER_DOCUMENT)
  The configuration may come from the deployment: CONFIG_SSM_PATH (SSM Parameter Store) with
  DB_SECRET_ARN / REPLICATION_SECRET_ARN (Secrets Manager), read with your AWS credentials.
  -h, --help      this text

Exit codes: 0 ok; 1 the cluster needs attention or a step failed; 2 usage or configuration error.
`;

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

const defaultIo: CliIo = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  env: process.env,
};

const OPTIONS = {
  now: { type: 'boolean' },
  config: { type: 'string' },
  json: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  force: { type: 'boolean' },
  group: { type: 'string' },
  action: { type: 'string' },
  target: { type: 'string' },
  keep: { type: 'boolean' },
  routers: { type: 'string' },
  document: { type: 'string' },
  production: { type: 'boolean' },
  servers: { type: 'string' },
  flavor: { type: 'string' },
  to: { type: 'string' },
  fence: { type: 'string', multiple: true },
  server: { type: 'string' },
  cluster: { type: 'boolean' },
  reason: { type: 'string' },
  'allow-data-loss': { type: 'boolean' },
  minutes: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

/** Routers through SSM Run Command (`--routers ssm`) or the router script on this host (default). */
function viaSsm(values: Values): boolean {
  const mode = values.routers ?? 'local';
  if (mode !== 'ssm' && mode !== 'local')
    throw new UsageError(`--routers must be ssm or local (got "${mode}")`);
  return mode === 'ssm';
}

async function configFor(values: Values, io: CliIo, aws = new OperatorAws(io.env)): Promise<Config> {
  return loadConfig({
    env: io.env,
    file: values.config,
    ssm: aws.ssmClient,
    secrets: aws.secretsClient,
    routersThroughSsm: viaSsm(values),
  });
}

/** What a cycle needs from AWS: routers found by EC2 tag, and the SSM switch with `--routers ssm`. */
async function cycleDeps(values: Values, config: Config, aws: OperatorAws): Promise<CycleDeps> {
  const findTagged = await aws.findTagged(config);
  const deps: CycleDeps = findTagged ? { findTagged } : {};
  if (viaSsm(values)) {
    const document = aws.documentName(values.document);
    deps.routers = (c) => aws.ssmRouters(c, document);
  }
  return deps;
}

const CYCLE_ACTIONS: readonly Action[] = ['check', 'failover', 'recover', 'switchover'];

async function runNow(values: Values, io: CliIo): Promise<number> {
  if ((values['allow-data-loss'] || values.reason) && !values.force) {
    throw new UsageError('--allow-data-loss and --reason go with --force (and --target)');
  }
  const aws = new OperatorAws(io.env);
  const config = await configFor(values, io, aws);
  const deps = await cycleDeps(values, config, aws);
  const action = (values.action ?? 'check') as Action;
  if (!CYCLE_ACTIONS.includes(action)) {
    throw new UsageError(`--action must be one of ${CYCLE_ACTIONS.join(', ')} (got "${values.action}")`);
  }
  const groups = values.group ? [values.group] : config.groups.map((g) => g.name);
  // Every group at once, as the alarm starts every group's function: each one switches its own
  // routers, and the election makes one of them the operation master.
  const reports: CycleReport[] = await Promise.all(
    groups.map((group) =>
      runCycle(
        config,
        {
          trigger: 'cli',
          action,
          group,
          dryRun: values['dry-run'] ?? false,
          force: values.force ?? false,
          ...(values.target ? { target: values.target } : {}),
          ...(values['allow-data-loss'] ? { allowDataLoss: true } : {}),
          ...(values.force && values.reason ? { reason: values.reason } : {}),
        },
        deps,
      ),
    ),
  );
  if (values.json) io.out(JSON.stringify(reports.length === 1 ? reports[0] : reports, null, 2));
  else for (const report of reports) io.out(formatCycleReport(report));
  // 0 when the cluster is Ok, or an operation this run took part in finished as it should.
  const fine = (r: CycleReport) =>
    r.error === undefined &&
    (r.analysis?.code === 'Ok' ||
      (r.operation !== undefined &&
        r.operation.error === undefined &&
        ['completed', 'completed-with-timeouts', 'followed', 'finished-elsewhere'].includes(
          r.operation.outcome,
        )));
  return reports.every(fine) ? 0 : 1;
}

async function runStatus(values: Values, io: CliIo): Promise<number> {
  const aws = new OperatorAws(io.env);
  const config = await configFor(values, io, aws);
  const report = await runCycle(
    config,
    {
      trigger: 'cli',
      action: 'status',
      group: values.group,
      dryRun: true,
      force: false,
    },
    await cycleDeps(values, config, aws),
  );
  io.out(values.json ? JSON.stringify(report, null, 2) : formatStatus(report));
  return report.error === undefined ? 0 : 1;
}

async function runSandbox(values: Values, io: CliIo): Promise<number> {
  const { runSandbox: sandbox } = await import('./sandbox/drill.js');
  const servers = values.servers === undefined ? 2 : Number(values.servers);
  if (servers !== 2 && servers !== 3)
    throw new UsageError(`--servers must be 2 or 3 (got "${values.servers}")`);
  const flavor = values.flavor ?? 'mariadb';
  if (flavor !== 'mariadb' && flavor !== 'mysql')
    throw new UsageError(`--flavor must be mariadb or mysql (got "${flavor}")`);
  return sandbox({
    keep: values.keep ?? false,
    servers,
    json: values.json ?? false,
    out: io.out,
    flavor,
    ...(values.production ? { production: true } : {}),
  });
}

async function runRouters(sub: string | undefined, values: Values, io: CliIo): Promise<number> {
  const aws = new OperatorAws(io.env);
  // Routers found by EC2 tag are found now, as the function finds them every run.
  const loaded = await configFor(values, io, aws);
  const { config } = await discoverRouters(loaded, await aws.findTagged(loaded));
  const routers = await import('./routers/cli.js');
  const routerSwitch = viaSsm(values)
    ? await aws.ssmRouters(config, aws.documentName(values.document))
    : routers.localRouterSwitchFromConfig(config);
  let result: Awaited<ReturnType<typeof routers.routersStatusCommand>>;
  if (sub === 'status') {
    result = await routers.routersStatusCommand(config, routerSwitch, { group: values.group });
  } else if (sub === 'switch') {
    if (!values.group || !values.to)
      throw new UsageError('routers switch needs --group G and --to HOST:PORT');
    result = await routers.routersSwitchCommand(config, routerSwitch, {
      group: values.group,
      to: values.to,
      fence: values.fence,
      dryRun: values['dry-run'] ?? false,
    });
  } else {
    throw new UsageError(`routers needs "status" or "switch" (got "${sub ?? ''}")`);
  }
  io.out(values.json ? JSON.stringify(result.results, null, 2) : result.text);
  return result.exitCode;
}

async function runMaintenance(sub: string | undefined, values: Values, io: CliIo): Promise<number> {
  const config = await configFor(values, io);
  const m = await import('./operations/maintenance.js');
  const now = Date.now();
  const by = `cli:${io.env.USER ?? io.env.LOGNAME ?? 'unknown'}`;
  if (sub === 'list') {
    const list = await m.listMaintenance(config, now);
    if (values.json) io.out(JSON.stringify(list, null, 2));
    else io.out(m.formatMaintenanceList(list));
    return 0;
  }
  if (sub !== 'start' && sub !== 'end') {
    throw new UsageError(`maintenance needs "start", "end" or "list" (got "${sub ?? ''}")`);
  }
  if ((values.server === undefined) === (values.cluster !== true)) {
    throw new UsageError(`maintenance ${sub} needs --server HOST:PORT|NAME or --cluster (one of them)`);
  }
  const scope = values.cluster ? 'cluster' : values.server!;
  const minutes = values.minutes === undefined ? undefined : Number(values.minutes);
  const result =
    sub === 'start'
      ? await m.startMaintenance(config, {
          scope,
          by,
          now,
          ...(values.reason !== undefined ? { reason: values.reason } : {}),
          ...(minutes !== undefined ? { minutes } : {}),
        })
      : await m.endMaintenance(config, { scope, by, now });
  if (values.json) io.out(JSON.stringify(result, null, 2));
  else io.out(m.formatMaintenanceResult(sub, result));
  return 0;
}

/** `adopt`: changes nothing; exit 0 when nothing needs settling before the schedule is enabled. */
async function runAdopt(values: Values, io: CliIo): Promise<number> {
  const aws = new OperatorAws(io.env);
  const config = await configFor(values, io, aws);
  const { inspectForAdoption, formatAdoption } = await import('./operations/adopt.js');
  const { reports, ...advice } = await inspectForAdoption(config, await cycleDeps(values, config, aws));
  io.out(values.json ? JSON.stringify({ ...advice, reports }, null, 2) : formatAdoption(advice));
  return advice.warnings.length === 0 ? 0 : 1;
}

/**
 * `dump` and `restore` take their own options (functions/dump/cli.ts); only --config and --json are
 * ours. With a configuration, the watchdog account's credentials are used (never a password on argv).
 */
async function runDumpCommand(command: 'dump' | 'restore', argv: string[], io: CliIo): Promise<number> {
  const rest: string[] = [];
  let configFile: string | undefined;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--config') configFile = argv[++i];
    else if (a.startsWith('--config=')) configFile = a.slice('--config='.length);
    else if (a === '--json') json = true;
    else rest.push(a);
  }
  let credentials: { user: string; password: string } | undefined;
  let routedTo: ((host: string, port: number) => Promise<string[]>) | undefined;
  if (configFile !== undefined || io.env.CONFIG_FILE || io.env.MF_CONFIG || io.env.CONFIG_SSM_PATH) {
    const config = await loadConfig({ env: io.env, file: configFile });
    credentials = config.credentials.watchdog;
    // A restore refuses a target any router of the cluster sends connections to.
    const { routersSendingTo } = await import('./cluster/routed.js');
    const cred = config.credentials.watchdog;
    routedTo = cred ? (host, port) => routersSendingTo(config, `${host}:${port}`, cred) : undefined;
  }
  const dump = await import('./dump/cli.js');
  const ctx = {
    env: io.env,
    log: io.err,
    ...(credentials ? { credentials } : {}),
    ...(routedTo ? { routedTo } : {}),
  };
  const result =
    command === 'dump' ? await dump.runDumpCommand(rest, ctx) : await dump.runRestoreCommand(rest, ctx);
  if (json && result) io.out(JSON.stringify(result, null, 2));
  return 0;
}

/** Runs the CLI; returns the process exit code. */
export async function main(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const first = argv[0];
  if (first === 'dump' || first === 'restore') {
    try {
      return await runDumpCommand(first, argv.slice(1), io);
    } catch (error) {
      if (error instanceof WatchdogError) {
        io.err(`repl-watchdog: ${error.message}`);
        return error.code === 'ConfigError' || error instanceof UsageError ? 2 : 1;
      }
      throw error;
    }
  }
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    io.err(`repl-watchdog: ${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, sub] = positionals;
  if (values.help || (!values.now && command === undefined)) {
    io.out(HELP);
    return values.help ? 0 : 2;
  }
  try {
    if (values.now && command === undefined) return await runNow(values, io);
    switch (command) {
      case 'status':
        return await runStatus(values, io);
      case 'sandbox':
        return await runSandbox(values, io);
      case 'routers':
        return await runRouters(sub, values, io);
      case 'maintenance':
        return await runMaintenance(sub, values, io);
      case 'adopt':
        return await runAdopt(values, io);
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof WatchdogError) {
      io.err(`repl-watchdog: ${error.message}`);
      if (error instanceof UsageError) io.err(`\n${HELP}`);
      return error.code === 'ConfigError' || error instanceof UsageError ? 2 : 1;
    }
    throw error;
  }
}
