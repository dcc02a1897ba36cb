/**
 * The router-switch parameters: one definition used three times, so they can never drift apart:
 *  - the SSM document's `allowedPattern` / `allowedValues` (scripts/build-ssm-document.mjs builds the
 *    document from {@link DOCUMENT_PARAMETERS}),
 *  - our own validation before any SendCommand or local run ({@link validateSwitchParameters}),
 *  - the script's own re-check (infra/ssm/router-switch.sh declares the same patterns; a unit test proves
 *    they are identical).
 *
 * The patterns use only the regular-expression subset that JavaScript, POSIX ERE (bash `=~`) and the SSM
 * service agree on: anchors, bracket classes, bounded repetition, groups and alternation. No class admits a
 * quote, a space, a `$`, a backtick, a `;`, a `|`, a `&`, a redirection or a newline, so a value can never
 * leave the single quotes the document puts it in, and the script never evaluates a value as code.
 */
import { UsageError } from '../errors.js';

/**
 * One `host:port`: a DNS name or IPv4 address (no IPv6 literals: `[`/`]` are kept out of the patterns).
 * The port has no leading zero, so one server has one spelling (`db1:03306` would slip past the
 * fenced and duplicate checks, which compare strings).
 */
export const HOST_PORT = '[A-Za-z0-9][A-Za-z0-9.-]{0,252}:[1-9][0-9]{0,4}';
const HOST_PORT_LIST = `${HOST_PORT}(,${HOST_PORT}){0,15}`;
/**
 * One path component: starts with a letter, digit or `_`, dots only between other characters. So no
 * `.` or `..` component, no dot file, no `..` anywhere, and (with the `/` before each one) no `//`.
 */
const SEGMENT = '[A-Za-z0-9_][A-Za-z0-9_-]{0,63}([.][A-Za-z0-9_-]{1,63}){0,7}';
/** An absolute path of such components. */
export const SAFE_PATH = `(/${SEGMENT}){1,16}`;
/**
 * The only folders the SSM document lets a path parameter name: a router's own config folder, or ours
 * (/etc/mysql-failover, for the verification login and the ProxySQL admin login). The script checks the
 * file itself on the instance: a regular file, owned by root, not writable by group or others, in a
 * folder that is not either, small (see router-switch.sh, trusted_file).
 */
export const ROUTER_DIRS = [
  '/etc/haproxy',
  '/etc/mysqlrouter',
  '/etc/proxysql',
  '/etc/mysql-failover',
] as const;
export const VERIFY_DIRS = ['/etc/mysql-failover'] as const;

/** A pattern for a file at most four levels under one of DIRS (each a SAFE_PATH). */
export function pathUnder(dirs: readonly string[]): string {
  const safe = new RegExp(`^${SAFE_PATH}$`);
  for (const dir of dirs) if (!safe.test(dir)) throw new Error(`not a safe folder: ${dir}`);
  const alternatives = dirs.map((dir) => dir.replaceAll('.', '[.]')).join('|');
  return `(${alternatives})(/${SEGMENT}){1,4}`;
}

/** systemd units of the routers themselves (an instance name allowed): never any other unit. */
const ROUTER_UNIT = '(haproxy|mysqlrouter|proxysql)(@[A-Za-z0-9_-]{1,64})?([.]service)?';

/** The document's patterns (SSM checks them before the instance sees anything). */
export const PATTERNS = {
  Destinations: `^(${HOST_PORT_LIST})?$`,
  Fenced: `^(${HOST_PORT_LIST})?$`,
  ConfigPath: `^${pathUnder(ROUTER_DIRS)}$`,
  Section: '^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$',
  ServiceName: `^(${ROUTER_UNIT})?$`,
  VerifyAddress: `^(${HOST_PORT})?$`,
  VerifyDefaultsFile: `^(${pathUnder(VERIFY_DIRS)})?$`,
  // At most a minute: the check runs twice at most, and the whole run must end within ExecutionTimeout.
  VerifyTimeoutSeconds: '^([1-9]|[1-5][0-9]|60)$',
  // 120 to 3600 seconds: always more than twice the longest verification plus the lock wait.
  ExecutionTimeout: '^(1[2-9][0-9]|[2-9][0-9]{2}|[1-2][0-9]{3}|3[0-5][0-9]{2}|3600)$',
} as const;

/**
 * What the script itself checks (router-switch.sh declares these as PAT_*): the same, except that a
 * path need only be safe in shape; the script then requires it under one of ROUTER_DIRS or a folder
 * the instance's root-owned settings allow (RS_ALLOWED_DIRS), and checks the file (trusted_file).
 */
export const SCRIPT_PATTERNS = {
  ...PATTERNS,
  ConfigPath: `^${SAFE_PATH}$`,
  VerifyDefaultsFile: `^(${SAFE_PATH})?$`,
} as const;

export const ROUTER_KINDS = ['haproxy', 'mysqlrouter', 'proxysql'] as const;
export type RouterKind = (typeof ROUTER_KINDS)[number];
export const ACTIONS = ['switch', 'status'] as const;
export type RouterAction = (typeof ACTIONS)[number];
/**
 * How the router picks up the rewritten config. `auto`: the on-instance command if one is configured,
 * else systemd when the unit is active, else the pidfile (HAProxy). `command` runs the command configured
 * on the instance itself (never a document parameter: a parameter is data, not code).
 */
export const APPLY_MODES = ['auto', 'systemd', 'pidfile', 'command'] as const;
export type ApplyMode = (typeof APPLY_MODES)[number];

export type DocumentParameterName =
  | 'Action'
  | 'RouterKind'
  | 'ConfigPath'
  | 'Section'
  | 'Destinations'
  | 'Fenced'
  | 'DryRun'
  | 'ApplyMode'
  | 'ServiceName'
  | 'VerifyAddress'
  | 'VerifyDefaultsFile'
  | 'VerifyTimeoutSeconds'
  | 'ExecutionTimeout';

export interface DocumentParameter {
  /** The environment variable the script reads. */
  env: string;
  description: string;
  default?: string;
  allowedPattern?: string;
  allowedValues?: readonly string[];
}

export const DEFAULT_VERIFY_DEFAULTS_FILE = '/etc/mysql-failover/router-verify.cnf';

/** Order matters: it is the order of the document's parameters and of the script's prelude. */
export const DOCUMENT_PARAMETERS: Record<DocumentParameterName, DocumentParameter> = {
  Action: {
    env: 'RS_ACTION',
    description: 'switch: point the router at Destinations; status: report where it points now.',
    default: 'switch',
    allowedValues: ACTIONS,
  },
  RouterKind: {
    env: 'RS_ROUTER_KIND',
    description: 'The router on the instance.',
    allowedValues: ROUTER_KINDS,
  },
  ConfigPath: {
    env: 'RS_CONFIG_PATH',
    description:
      'haproxy.cfg or mysqlrouter.conf; for ProxySQL the client defaults file (mode 600) holding the admin interface host, port, user and password.',
    allowedPattern: PATTERNS.ConfigPath,
  },
  Section: {
    env: 'RS_SECTION',
    description:
      'HAProxy listen/backend name; MySQL Router routing section name (NAME of [routing:NAME]); ProxySQL writer hostgroup, optionally WRITER:READER.',
    default: 'mysql_failover',
    allowedPattern: PATTERNS.Section,
  },
  Destinations: {
    env: 'RS_DESTINATIONS',
    description:
      'Comma-separated host:port list, new primary first; the others stay as fallbacks (HAProxy backup servers, later MySQL Router destinations, ProxySQL reader hostgroup).',
    default: '',
    allowedPattern: PATTERNS.Destinations,
  },
  Fenced: {
    env: 'RS_FENCED',
    description: 'Comma-separated host:port list removed from the router until rebuilt (may be empty).',
    default: '',
    allowedPattern: PATTERNS.Fenced,
  },
  DryRun: {
    env: 'RS_DRY_RUN',
    description: 'true: build and validate the new config, report what would change, touch nothing.',
    default: 'false',
    allowedValues: ['true', 'false'],
  },
  ApplyMode: {
    env: 'RS_APPLY_MODE',
    description:
      'auto | systemd | pidfile | command (the command configured on the instance in /etc/mysql-failover/router-switch.env).',
    default: 'auto',
    allowedValues: APPLY_MODES,
  },
  ServiceName: {
    env: 'RS_SERVICE_NAME',
    description: 'systemd unit to reload or restart; empty: haproxy or mysqlrouter.',
    default: '',
    allowedPattern: PATTERNS.ServiceName,
  },
  VerifyAddress: {
    env: 'RS_VERIFY_ADDRESS',
    description: 'host:port to query through the router; empty: taken from the router config.',
    default: '',
    allowedPattern: PATTERNS.VerifyAddress,
  },
  VerifyDefaultsFile: {
    env: 'RS_VERIFY_DEFAULTS_FILE',
    description:
      'Client defaults file (mode 600) with the [client] user and password used to verify through the router.',
    default: DEFAULT_VERIFY_DEFAULTS_FILE,
    allowedPattern: PATTERNS.VerifyDefaultsFile,
  },
  VerifyTimeoutSeconds: {
    env: 'RS_VERIFY_TIMEOUT',
    description: 'How long the verification may retry until the new primary answers through the router.',
    default: '20',
    allowedPattern: PATTERNS.VerifyTimeoutSeconds,
  },
  ExecutionTimeout: {
    env: 'RS_EXECUTION_TIMEOUT',
    description: 'Seconds the script may run on the instance.',
    default: '120',
    allowedPattern: PATTERNS.ExecutionTimeout,
  },
};

export const DOCUMENT_PARAMETER_NAMES = Object.keys(DOCUMENT_PARAMETERS) as DocumentParameterName[];

/** What a caller asks for; validated into the document's string parameters. */
export interface SwitchParametersInput {
  action?: RouterAction;
  routerKind: RouterKind;
  configPath: string;
  section?: string;
  /** `host:port`, new primary first. */
  destinations: readonly string[];
  fenced?: readonly string[];
  dryRun?: boolean;
  applyMode?: ApplyMode;
  serviceName?: string;
  verifyAddress?: string;
  verifyDefaultsFile?: string;
  verifyTimeoutSeconds?: number;
  executionTimeoutSeconds?: number;
}

export type DocumentParameterValues = Record<DocumentParameterName, string>;

function check(name: DocumentParameterName, value: string, problems: string[], pattern?: string): void {
  const spec = DOCUMENT_PARAMETERS[name];
  if (spec.allowedValues && !spec.allowedValues.includes(value)) {
    problems.push(`${name} must be one of ${spec.allowedValues.join(', ')} (got ${JSON.stringify(value)})`);
  }
  const allowed = pattern ?? spec.allowedPattern;
  if (allowed && !new RegExp(allowed).test(value)) {
    problems.push(`${name} does not match ${allowed} (got ${JSON.stringify(value.slice(0, 80))})`);
  }
}

export interface ValidateOptions {
  /**
   * Folders besides ROUTER_DIRS that path parameters may name: only for a local run on this host (the
   * operator's own routers), never for the SSM document, whose patterns are fixed.
   */
  extraDirs?: readonly string[];
}

function portOk(hostPort: string): boolean {
  const port = Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
  return Number.isInteger(port) && port >= 1 && port <= 65535;
}

/**
 * Validates a request and renders it as the document's parameter values (strings, as SSM wants them).
 * Throws a UsageError naming every offending parameter; nothing is sent or run before this passes.
 */
export function validateSwitchParameters(
  input: SwitchParametersInput,
  options: ValidateOptions = {},
): DocumentParameterValues {
  const values: DocumentParameterValues = {
    Action: input.action ?? 'switch',
    RouterKind: input.routerKind,
    ConfigPath: input.configPath,
    Section: input.section ?? DOCUMENT_PARAMETERS.Section.default!,
    Destinations: input.destinations.join(','),
    Fenced: (input.fenced ?? []).join(','),
    DryRun: input.dryRun ? 'true' : 'false',
    ApplyMode: input.applyMode ?? 'auto',
    ServiceName: input.serviceName ?? '',
    VerifyAddress: input.verifyAddress ?? '',
    VerifyDefaultsFile: input.verifyDefaultsFile ?? DEFAULT_VERIFY_DEFAULTS_FILE,
    VerifyTimeoutSeconds: String(input.verifyTimeoutSeconds ?? 20),
    ExecutionTimeout: String(input.executionTimeoutSeconds ?? 120),
  };
  const problems: string[] = [];
  const extra = options.extraDirs ?? [];
  const localPatterns: Partial<Record<DocumentParameterName, string>> =
    extra.length === 0
      ? {}
      : {
          ConfigPath: `^${pathUnder([...ROUTER_DIRS, ...extra])}$`,
          VerifyDefaultsFile: `^(${pathUnder([...VERIFY_DIRS, ...extra])})?$`,
        };
  for (const name of DOCUMENT_PARAMETER_NAMES) {
    const value = values[name];
    if (typeof value !== 'string') problems.push(`${name} must be a string`);
    else check(name, value, problems, localPatterns[name]);
  }
  if (Number(values.VerifyTimeoutSeconds) * 2 >= Number(values.ExecutionTimeout)) {
    problems.push(
      `VerifyTimeoutSeconds (${values.VerifyTimeoutSeconds}) must be less than half of ExecutionTimeout (${values.ExecutionTimeout}): the check may run twice`,
    );
  }
  // Joining could hide an element that smuggles a comma or is empty: check every element on its own too.
  const element = new RegExp(`^${HOST_PORT}$`);
  for (const [name, list] of [
    ['Destinations', input.destinations],
    ['Fenced', input.fenced ?? []],
  ] as const) {
    for (const item of list) {
      if (!element.test(item))
        problems.push(`${name} element ${JSON.stringify(item.slice(0, 80))} is not host:port`);
      else if (!portOk(item)) problems.push(`${name} element ${item} has a port outside 1-65535`);
    }
  }
  if (values.VerifyAddress !== '' && !portOk(values.VerifyAddress)) {
    problems.push(`VerifyAddress ${values.VerifyAddress} has a port outside 1-65535`);
  }
  if (values.Action === 'switch' && input.destinations.length === 0) {
    problems.push('Destinations must name at least the new primary');
  }
  const fenced = new Set(input.fenced ?? []);
  for (const destination of input.destinations) {
    if (fenced.has(destination)) problems.push(`${destination} is fenced and cannot be a destination`);
  }
  if (new Set(input.destinations).size !== input.destinations.length) {
    problems.push('Destinations lists a server twice');
  }
  if (input.routerKind === 'proxysql' && !/^[0-9]{1,9}(:[0-9]{1,9})?$/.test(values.Section)) {
    problems.push(
      `Section for proxysql must be WRITER or WRITER:READER hostgroup ids (got ${values.Section})`,
    );
  }
  if (problems.length > 0) {
    throw new UsageError(`invalid router switch parameters: ${problems.join('; ')}`, {
      details: { problems },
    });
  }
  return values;
}

/** The environment the script reads, from validated parameter values. */
export function scriptEnvironment(values: DocumentParameterValues): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of DOCUMENT_PARAMETER_NAMES) env[DOCUMENT_PARAMETERS[name].env] = values[name];
  return env;
}
