/**
 * Runs one aws:runShellScript step of an SSM Command document on a stand-in instance the way the SSM
 * Agent does on Linux: the step's runCommand lines are written to `_script.sh` in the command's
 * orchestration folder and run with `sh`; each parameter declared with interpolationType ENV_VAR
 * arrives as SSM_<Name> (SSM Agent 3.3.2746.0 and later), never pasted into the text; the step's
 * timeoutSeconds (here `{{ ExecutionTimeout }}`) ends the run (status TimedOut); the plugin's Output
 * in ListCommandInvocations is cut at 2,500 characters, StandardOutputContent at 24,000.
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const PLUGIN_OUTPUT_LIMIT = 2_500;
export const STANDARD_OUTPUT_LIMIT = 24_000;

export interface DocumentParameter {
  type: string;
  default?: string;
  allowedValues?: string[];
  allowedPattern?: string;
  interpolationType?: string;
}

export interface CommandDocument {
  schemaVersion: string;
  parameters: Record<string, DocumentParameter>;
  mainSteps: Array<{
    action: string;
    name: string;
    inputs: { timeoutSeconds?: string | number; runCommand: string[] };
  }>;
}

/** A managed instance of the stand-in: where its agent works, and the agent's own environment. */
export interface AgentInstance {
  instanceId: string;
  /** Folder of the instance's agent (orchestration files go below it). */
  dir: string;
  /** The agent process' environment on this instance (added to a minimal root environment). */
  env?: Record<string, string>;
  /**
   * The instance's own files at the paths the document allows (e.g. its router folder at /etc/haproxy):
   * each step runs in a private mount namespace with these folders bound over the host's.
   */
  binds?: Array<{ from: string; to: string }>;
}

export interface StepRun {
  status: 'Success' | 'Failed' | 'TimedOut';
  statusDetails: 'Success' | 'Failed' | 'ExecutionTimedOut';
  responseCode: number;
  stdout: string;
  stderr: string;
  startedAt: Date;
  endedAt: Date;
}

/** Resolves parameter values the way SendCommand does: defaults, allowed values and patterns. */
export function resolveParameters(
  document: CommandDocument,
  given: Record<string, string[]>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(given)) {
    if (!(name in document.parameters)) throw new Error(`InvalidParameters: unknown parameter ${name}`);
  }
  for (const [name, spec] of Object.entries(document.parameters)) {
    const value = given[name]?.[0] ?? spec.default;
    if (value === undefined) throw new Error(`InvalidParameters: parameter ${name} is required`);
    if (spec.allowedValues && !spec.allowedValues.includes(value)) {
      throw new Error(`InvalidParameters: ${name} must be one of ${spec.allowedValues.join(', ')}`);
    }
    if (spec.allowedPattern && !new RegExp(spec.allowedPattern).test(value)) {
      throw new Error(`InvalidParameters: ${name} does not match ${spec.allowedPattern}`);
    }
    out[name] = value;
  }
  return out;
}

/**
 * The `sh -c` text that binds `count` folders, given as positional parameters (from, to, from, to, ...),
 * each over the other, ending in `&&` before the command it prefixes. A folder this host lacks
 * (/etc/mysqlrouter: the harness runs MySQL Router from a private prefix, no package made it) is created
 * empty as the mount point, as the router's package would.
 */
export function bindMounts(count: number): string {
  return Array.from(
    { length: count },
    (_, i) => `mkdir -p "$${2 * i + 2}" && mount --bind "$${2 * i + 1}" "$${2 * i + 2}" &&`,
  ).join(' ');
}

function interpolate(text: string, values: Record<string, string>): string {
  return text.replace(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g, (whole, name: string) => values[name] ?? whole);
}

export async function runShellScriptStep(
  document: CommandDocument,
  parameters: Record<string, string>,
  instance: AgentInstance,
  commandId: string,
  region: string,
): Promise<StepRun> {
  const step = document.mainSteps[0]!;
  const envValued = Object.entries(document.parameters).filter(([, p]) => p.interpolationType === 'ENV_VAR');
  // Text parameters (not ENV_VAR) are pasted into the commands, as the agent does.
  const pasted = Object.fromEntries(
    Object.entries(parameters).filter(([name]) => document.parameters[name]?.interpolationType !== 'ENV_VAR'),
  );
  const timeoutSeconds = Number(interpolate(String(step.inputs.timeoutSeconds ?? '3600'), parameters));
  const folder = join(instance.dir, 'orchestration', commandId, step.name);
  await mkdir(folder, { recursive: true });
  const scriptPath = join(folder, '_script.sh');
  await writeFile(scriptPath, step.inputs.runCommand.map((line) => interpolate(line, pasted)).join('\n'), {
    mode: 0o700,
  });
  const env: Record<string, string> = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/root',
    AWS_SSM_INSTANCE_ID: instance.instanceId,
    AWS_SSM_REGION_NAME: region,
    ...instance.env,
  };
  for (const [name] of envValued) env[`SSM_${name}`] = parameters[name] ?? '';
  const startedAt = new Date();
  return new Promise<StepRun>((resolve) => {
    const binds = instance.binds ?? [];
    // unshare gives the step its own mount table: the host's folders are untouched.
    const [command, args] =
      binds.length === 0
        ? ['sh', [scriptPath]]
        : [
            'unshare',
            [
              '--mount',
              '--propagation',
              'private',
              'sh',
              '-c',
              `${bindMounts(binds.length)} exec sh "$${2 * binds.length + 1}"`,
              'ssm-agent',
              ...binds.flatMap((b) => [b.from, b.to]),
              scriptPath,
            ],
          ];
    const child = spawn(command as string, args as string[], {
      cwd: folder,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => {
      timedOut = true;
      // The agent ends the whole process tree of a step that outlives its timeout.
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutSeconds * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      const endedAt = new Date();
      if (timedOut) {
        resolve({
          status: 'TimedOut',
          statusDetails: 'ExecutionTimedOut',
          responseCode: -1,
          stdout,
          stderr,
          startedAt,
          endedAt,
        });
      } else if (code === 0) {
        resolve({
          status: 'Success',
          statusDetails: 'Success',
          responseCode: 0,
          stdout,
          stderr,
          startedAt,
          endedAt,
        });
      } else {
        resolve({
          status: 'Failed',
          statusDetails: 'Failed',
          responseCode: code ?? -1,
          stdout,
          stderr,
          startedAt,
          endedAt,
        });
      }
    });
  });
}
