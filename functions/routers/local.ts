/**
 * RouterSwitch on this host: runs the very script files the SSM document carries (infra/ssm/router-switch.sh,
 * which loads infra/ssm/router-kinds/<kind>.sh) with bash, once per router of the group, against local config files. Used by the CLI
 * (`repl-watchdog routers ...`), the sandbox and the tests.
 */
import { spawn } from 'node:child_process';
import { dirname } from 'node:path';
import { errorMessage, RouterSwitchError } from '../errors.js';
import {
  type ApplyMode,
  type RouterKind,
  scriptEnvironment,
  validateSwitchParameters,
} from './parameters.js';
import { describeGroup, groupOutcome, parseScriptOutput, routerOutcome } from './result.js';
import { ROUTER_SCRIPT_PATH } from './script-files.js';
import type {
  GroupSwitchResult,
  RouterAlerter,
  RouterResult,
  RouterSwitch,
  RouterSwitchRequest,
} from './types.js';

export { ROUTER_SCRIPT_PATH };

/** One router on this host. */
export interface LocalRouter {
  /** Name in reports (e.g. the router's host:port). */
  id: string;
  routerKind: RouterKind;
  /** haproxy.cfg / mysqlrouter.conf / ProxySQL admin defaults file. */
  configPath: string;
  section?: string;
  applyMode?: ApplyMode;
  /** Trusted local command that makes the router re-read its config (RS_APPLY_COMMAND). */
  applyCommand?: string;
  serviceName?: string;
  /** The router's listening address, to verify through. */
  verifyAddress?: string;
  verifyDefaultsFile?: string;
  /** Verification login when no defaults file is used; the password goes through MYSQL_PWD. */
  verifyUser?: string;
  verifyPassword?: string;
  verifyTimeoutSeconds?: number;
  /** Folder for config backups (default: the script's /var/backups/mysql-failover). */
  backupDir?: string;
  haproxyBin?: string;
  sqlClient?: string;
  /** On-host settings file (default: none for local runs; the script's default applies on instances). */
  settingsFile?: string;
}

export interface LocalRouterSwitchOptions {
  groups: Readonly<Record<string, readonly LocalRouter[]>>;
  scriptPath?: string;
  bash?: string;
  /** Per run of the script (default 120 s). */
  timeoutMs?: number;
  /** Retry a failed router once (default true). */
  retryFailed?: boolean;
  /** Extra environment for every run (e.g. PATH with test doubles first). */
  env?: Readonly<Record<string, string>>;
  alerter?: RouterAlerter;
}

export interface ScriptRun {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the script once with the given environment (nothing inherited but PATH, HOME and LANG). */
export function runRouterScript(
  env: Readonly<Record<string, string>>,
  options: { scriptPath?: string; bash?: string; timeoutMs?: number } = {},
): Promise<ScriptRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(options.bash ?? 'bash', [options.scriptPath ?? ROUTER_SCRIPT_PATH], {
      env: {
        PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
        HOME: process.env.HOME ?? '/root',
        LANG: 'C',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      stderr += `\nrouter-switch: killed after ${options.timeoutMs ?? 120_000} ms`;
      child.kill('SIGTERM');
    }, options.timeoutMs ?? 120_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new RouterSwitchError(`cannot run the router script: ${error.message}`, { cause: error }));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ exitCode: code, stdout, stderr });
    });
  });
}

export class LocalRouterSwitch implements RouterSwitch {
  private readonly options: LocalRouterSwitchOptions;

  constructor(options: LocalRouterSwitchOptions) {
    this.options = options;
  }

  switch(group: string, request: RouterSwitchRequest): Promise<GroupSwitchResult> {
    return this.run(group, 'switch', request);
  }

  status(group: string): Promise<GroupSwitchResult> {
    return this.run(group, 'status', { destinations: [], dryRun: false });
  }

  private routers(group: string): readonly LocalRouter[] {
    const routers = this.options.groups[group];
    if (!routers) throw new RouterSwitchError(`no local routers configured for group ${group}`);
    return routers;
  }

  private async run(
    group: string,
    action: 'switch' | 'status',
    request: RouterSwitchRequest,
  ): Promise<GroupSwitchResult> {
    const started = Date.now();
    const routers = this.routers(group);
    // Validate every router's parameters before running any: all or nothing on bad input.
    const envs = routers.map((router) => this.environment(router, action, request));
    let results = await Promise.all(routers.map((router, i) => this.runOne(router, envs[i]!)));
    if (this.options.retryFailed !== false && results.some((r) => !r.ok)) {
      results = await Promise.all(
        results.map(async (result, i) =>
          result.ok ? result : { ...(await this.runOne(routers[i]!, envs[i]!)), attempts: 2 },
        ),
      );
    }
    const { outcome, alarm } = groupOutcome(action, results);
    const report: GroupSwitchResult = {
      group,
      action,
      outcome,
      alarm,
      destinations: [...request.destinations],
      fenced: [...(request.fenced ?? [])],
      dryRun: request.dryRun,
      routers: results,
      commandIds: [],
      message: '',
      durationMs: 0,
    };
    report.message = describeGroup(report);
    report.durationMs = Date.now() - started;
    if (alarm && this.options.alerter) {
      try {
        await this.options.alerter.alert(report);
      } catch (error) {
        report.message += `; raising the alarm failed too: ${errorMessage(error)}`;
      }
    }
    return report;
  }

  private environment(
    router: LocalRouter,
    action: 'switch' | 'status',
    request: RouterSwitchRequest,
  ): Record<string, string> {
    // The operator's own routers on this host: their folders are allowed besides the fixed ones (the
    // script still checks each file: regular, root-owned, not writable by group or others, small).
    const dirs = [router.configPath, router.verifyDefaultsFile]
      .filter((path): path is string => path !== undefined && path !== '')
      .map((path) => dirname(path));
    const extraDirs = [...new Set(dirs)];
    const values = validateSwitchParameters(
      {
        action,
        routerKind: router.routerKind,
        configPath: router.configPath,
        section: router.section,
        destinations: request.destinations,
        fenced: request.fenced,
        dryRun: request.dryRun,
        applyMode: router.applyMode,
        serviceName: router.serviceName,
        verifyAddress: router.verifyAddress,
        verifyDefaultsFile: router.verifyDefaultsFile ?? '',
        verifyTimeoutSeconds: router.verifyTimeoutSeconds,
      },
      { extraDirs },
    );
    const env: Record<string, string> = {
      ...(this.options.env ?? {}),
      ...scriptEnvironment(values),
      RS_SETTINGS_FILE: router.settingsFile ?? '',
      RS_ALLOWED_DIRS: extraDirs.join(':'),
    };
    if (router.applyCommand !== undefined) env.RS_APPLY_COMMAND = router.applyCommand;
    if (router.backupDir !== undefined) env.RS_BACKUP_DIR = router.backupDir;
    if (router.haproxyBin !== undefined) env.RS_HAPROXY_BIN = router.haproxyBin;
    if (router.sqlClient !== undefined) env.RS_SQL_CLIENT = router.sqlClient;
    if (router.verifyUser !== undefined) env.RS_VERIFY_USER = router.verifyUser;
    if (router.verifyPassword !== undefined) env.MYSQL_PWD = router.verifyPassword;
    return env;
  }

  private async runOne(router: LocalRouter, env: Record<string, string>): Promise<RouterResult> {
    let run: ScriptRun;
    try {
      run = await runRouterScript(env, {
        scriptPath: this.options.scriptPath,
        bash: this.options.bash,
        timeoutMs: this.options.timeoutMs,
      });
    } catch (error) {
      return {
        target: router.id,
        ok: false,
        outcome: 'failed',
        attempts: 1,
        exitCode: null,
        result: null,
        error: errorMessage(error),
      };
    }
    const parsed = parseScriptOutput(run.stdout);
    const { ok, outcome } = routerOutcome(run.exitCode, parsed);
    const result: RouterResult = {
      target: router.id,
      ok,
      outcome,
      attempts: 1,
      exitCode: run.exitCode,
      result: parsed,
    };
    if (!ok)
      result.error =
        parsed?.message ?? (run.stderr.trim().split('\n').slice(-3).join(' | ') || 'no result line');
    return result;
  }
}
