/**
 * The physical reseed document's parameters: one table that the document builder, the script's own
 * checks (infra/ssm/reseed/reseed.sh repeats the patterns) and the adapters share. Every value is
 * constrained: no path, command, defaults file or endpoint travels as a parameter; those are the
 * host's own root-owned settings (/etc/mysql-failover/reseed.env).
 */
import { ConfigError } from '../../errors.js';

export type PhysicalAction = 'backup' | 'restore';

export interface ParameterSpec {
  description: string;
  /** The script's environment variable. */
  env: string;
  default?: string;
  allowedPattern?: string;
  allowedValues?: readonly string[];
}

export const KEY_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9_.=-]{0,127}(/[A-Za-z0-9_][A-Za-z0-9_.=-]{0,127}){0,15}$';
export const STORE_PATTERN =
  '^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9_.=-]+)*/?|(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}){1,32})$';
/** The database server's unit only (a restore stops and starts it as root): never any other unit. */
export const SERVICE_PATTERN = '^(mariadb|mysql|mysqld)(@[A-Za-z0-9_.-]{1,64})?([.]service)?$';
/** 60 s to SSM's limit of 48 hours (config reseed.commandTimeoutSeconds has the same bounds). */
export const TIMEOUT_PATTERN =
  '^([6-9][0-9]|[1-9][0-9]{2,4}|1[0-6][0-9]{4}|17[01][0-9]{3}|172[0-7][0-9]{2}|172800)$';
export const PARALLEL_PATTERN = '^([1-9]|1[0-6])$';

export const RESEED_PARAMETERS = {
  Action: {
    env: 'PR_ACTION',
    description:
      'backup: stream a physical backup of this host to the store; restore: replace this host’s datadir with one.',
    allowedValues: ['backup', 'restore'],
  },
  Key: {
    env: 'PR_KEY',
    description: 'Object key of the backup under the host’s reseed store.',
    allowedPattern: KEY_PATTERN,
  },
  Store: {
    env: 'PR_STORE',
    description:
      'The store the caller expects; refused unless it is this host’s RESEED_STORE (the data goes nowhere else).',
    allowedPattern: STORE_PATTERN,
  },
  ServiceControl: {
    env: 'PR_SERVICE_CONTROL',
    description: 'How the server is stopped and started: its systemd unit.',
    default: 'systemd',
    allowedValues: ['systemd'],
  },
  ServiceName: {
    env: 'PR_SERVICE_NAME',
    description: 'The server’s systemd unit.',
    default: 'mariadb',
    allowedPattern: SERVICE_PATTERN,
  },
  Parallel: {
    env: 'PR_PARALLEL',
    description: 'mariadb-backup threads.',
    default: '2',
    allowedPattern: PARALLEL_PATTERN,
  },
  ExecutionTimeout: {
    env: '',
    description: 'Seconds the command may run on the instance (a large restore takes hours).',
    default: '172800',
    allowedPattern: TIMEOUT_PATTERN,
  },
} as const satisfies Record<string, ParameterSpec>;

export type ReseedParameterName = keyof typeof RESEED_PARAMETERS;

export interface ReseedCommandRequest {
  action: PhysicalAction;
  key: string;
  store: string;
  serviceName?: string;
  parallel?: number;
}

/** The request as document parameters (SSM), checked against the same patterns the document holds. */
export function documentParameters(request: ReseedCommandRequest): Record<string, string[]> {
  const values: Partial<Record<ReseedParameterName, string>> = {
    Action: request.action,
    Key: request.key,
    Store: request.store,
    ServiceControl: 'systemd',
    ServiceName: request.serviceName ?? 'mariadb',
    Parallel: String(request.parallel ?? 2),
  };
  const out: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(values) as [ReseedParameterName, string][]) {
    const spec: ParameterSpec = RESEED_PARAMETERS[name];
    if (spec.allowedValues && !spec.allowedValues.includes(value))
      throw new ConfigError(
        `physical reseed parameter ${name}: ${value} is not one of ${spec.allowedValues.join(', ')}`,
      );
    if (spec.allowedPattern && !new RegExp(spec.allowedPattern).test(value))
      throw new ConfigError(
        `physical reseed parameter ${name}: ${value} does not match ${spec.allowedPattern}`,
      );
    out[name] = [value];
  }
  return out;
}

/** The script's environment for a local run (the same values, as PR_* variables). */
export function scriptEnvironment(
  request: ReseedCommandRequest,
  serviceControl: 'systemd' | 'hook',
): Record<string, string> {
  const p = documentParameters(request);
  const env: Record<string, string> = {};
  for (const [name, [value]] of Object.entries(p)) {
    const spec: ParameterSpec = RESEED_PARAMETERS[name as ReseedParameterName];
    if (spec.env && value !== undefined) env[spec.env] = value;
  }
  env.PR_SERVICE_CONTROL = serviceControl;
  return env;
}
