/**
 * Configuration sources. Each returns a plain object; `loadConfig` merges them (document < environment
 * overrides < secrets) and validates the result once with `parseConfig`.
 *
 *   file            CONFIG_FILE or --config: JSON or YAML
 *   environment     MF_CONFIG (a whole JSON/YAML document) and MF_* scalar overrides
 *   SSM             CONFIG_SSM_PATH: `<path>/config` holds a document; `<path>/a/b` sets key a.b
 *   Secrets Manager DB_SECRET_ARN / REPLICATION_SECRET_ARN: JSON {"username","password"}
 */
import { readFile } from 'node:fs/promises';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { GetParametersByPathCommandOutput, SSMClient } from '@aws-sdk/client-ssm';
import { ConfigError, errorMessage } from '../errors.js';
import { isSecretPath } from './mask.js';
import { type Config, parseConfig } from './schema.js';

type Raw = Record<string, unknown>;

// The YAML parser and the SDK commands are loaded only when a source needs them: a Lambda configured
// with JSON from the environment never compiles them (cold start, see bench/check.ts).
/** Where a JSON or YAML parse failed, without any of the text. */
function parseErrorWhere(error: unknown): string {
  const e = error as { code?: unknown; linePos?: Array<{ line: number; col: number }>; message?: unknown };
  if (Array.isArray(e.linePos) && e.linePos[0]) {
    const kind = typeof e.code === 'string' ? e.code : 'invalid YAML';
    return `${kind} at line ${e.linePos[0].line}, column ${e.linePos[0].col}`;
  }
  const message = typeof e.message === 'string' ? e.message : '';
  const at = /line (\d+) column (\d+)/.exec(message) ?? /position (\d+)/.exec(message);
  if (at?.[2] !== undefined) return `invalid JSON at line ${at[1]}, column ${at[2]}`;
  if (at) return `invalid JSON at position ${at[1]}`;
  return error instanceof SyntaxError ? 'invalid JSON' : 'invalid YAML';
}

async function parseDocument(text: string, source: string): Promise<Raw> {
  let value: unknown;
  try {
    value = text.trimStart().startsWith('{') ? JSON.parse(text) : (await import('yaml')).parse(text);
  } catch (error) {
    // The parsers quote the text around the error (JSON a snippet, YAML a code frame): the text may
    // hold a password, so only where it went wrong is said, and the cause is not kept.
    throw new ConfigError(`cannot parse ${source}: ${parseErrorWhere(error)}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`${source} must hold an object (a mapping of keys), got ${typeof value}`);
  }
  return value as Raw;
}

export async function readConfigFile(path: string): Promise<Raw> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${errorMessage(error)}`, { cause: error });
  }
  return parseDocument(text, `config file ${path}`);
}

function setPath(target: Raw, path: readonly string[], value: unknown): void {
  let node = target;
  path.forEach((key, index) => {
    if (index === path.length - 1) {
      node[key] = value;
      return;
    }
    const next = node[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
    node = node[key] as Raw;
  });
}

function deepMerge(base: Raw, over: Raw): Raw {
  const out: Raw = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prev = out[key];
    if (
      value !== null &&
      typeof value === 'object' &&
      !Array.isArray(value) &&
      prev !== null &&
      typeof prev === 'object' &&
      !Array.isArray(prev)
    ) {
      out[key] = deepMerge(prev as Raw, value as Raw);
    } else {
      out[key] = value;
    }
  }
  return out;
}

/** Scalar overrides from the environment: variable -> config key path. */
const ENV_KEYS: Record<string, string[]> = {
  MF_CLUSTER_NAME: ['clusterName'],
  MF_PRIMARY: ['primary'],
  MF_OBJECT_STORE: ['objectStore'],
  MF_ANTI_FLAP_SECONDS: ['antiFlapSeconds'],
  MF_SPLIT_BRAIN_POLICY: ['splitBrainPolicy'],
  MF_CONNECT_TIMEOUT_MS: ['timeouts', 'connectMs'],
  MF_QUERY_TIMEOUT_MS: ['timeouts', 'queryMs'],
  MF_LEASE_MS: ['election', 'leaseMs'],
  MF_DB_USER: ['credentials', 'watchdog', 'user'],
  MF_DB_PASSWORD: ['credentials', 'watchdog', 'password'],
  MF_REPL_USER: ['credentials', 'replication', 'user'],
  MF_REPL_PASSWORD: ['credentials', 'replication', 'password'],
  DUMPS_URL: ['objectStore'],
  S3_EXPECTED_BUCKET_OWNER: ['objectStoreBucketOwner'],
};

export async function configFromEnv(env: NodeJS.ProcessEnv): Promise<Raw> {
  let out: Raw = {};
  if (env.MF_CONFIG) out = await parseDocument(env.MF_CONFIG, 'environment variable MF_CONFIG');
  if (env.MF_SERVERS) {
    out.servers = env.MF_SERVERS.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  }
  for (const [variable, path] of Object.entries(ENV_KEYS)) {
    const value = env[variable];
    if (value !== undefined && value !== '') setPath(out, path, value);
  }
  return out;
}

/** Reads every parameter under `path` (paginated, decrypted). */
export async function configFromSsm(ssm: SSMClient, path: string, signal?: AbortSignal): Promise<Raw> {
  const prefix = path.endsWith('/') ? path : `${path}/`;
  let out: Raw = {};
  const overrides: Raw = {};
  const { GetParametersByPathCommand } = await import('../aws/ssm.js');
  let nextToken: string | undefined;
  do {
    let page: GetParametersByPathCommandOutput;
    try {
      page = await ssm.send(
        new GetParametersByPathCommand({
          Path: path,
          Recursive: true,
          WithDecryption: true,
          NextToken: nextToken,
        }),
        signal ? { abortSignal: signal } : {},
      );
    } catch (error) {
      throw new ConfigError(`cannot read SSM parameters under ${path}: ${errorMessage(error)}`, {
        cause: error,
      });
    }
    for (const parameter of page.Parameters ?? []) {
      if (!parameter.Name || parameter.Value === undefined) continue;
      const key = parameter.Name.startsWith(prefix) ? parameter.Name.slice(prefix.length) : parameter.Name;
      if (key === 'config') {
        out = deepMerge(out, await parseDocument(parameter.Value, `SSM parameter ${parameter.Name}`));
      } else {
        const value = parameter.Value.trim();
        // A password is a string, whatever it starts with: never parsed (`[x` is a fine password).
        const path = key.split('/').filter(Boolean);
        const secretLeaf = isSecretPath(path.slice(-1)) && !/^credentials?$/i.test(path.at(-1) ?? '');
        const structured = !secretLeaf && (value.startsWith('{') || value.startsWith('['));
        const parsed = structured
          ? (await parseDocument(`{"v":${value}}`, `SSM parameter ${parameter.Name}`)).v
          : value;
        setPath(overrides, path, parsed);
      }
    }
    nextToken = page.NextToken;
  } while (nextToken);
  if (Object.keys(out).length === 0 && Object.keys(overrides).length === 0) {
    throw new ConfigError(`no SSM parameters found under ${path}`, { details: { path } });
  }
  return deepMerge(out, overrides);
}

/** Reads a Secrets Manager secret holding `{"username","password"}`. */
export async function credentialsFromSecret(
  secrets: SecretsManagerClient,
  secretId: string,
  signal?: AbortSignal,
): Promise<{ user: string; password: string }> {
  let text: string | undefined;
  try {
    const { GetSecretValueCommand } = await import('../aws/secrets.js');
    const result = await secrets.send(
      new GetSecretValueCommand({ SecretId: secretId }),
      signal ? { abortSignal: signal } : {},
    );
    text = result.SecretString;
  } catch (error) {
    throw new ConfigError(`cannot read secret ${secretId}: ${errorMessage(error)}`, { cause: error });
  }
  let value: unknown;
  try {
    value = JSON.parse(text ?? '');
  } catch {
    throw new ConfigError(`secret ${secretId} is not JSON {"username","password"}`);
  }
  const record = value as { username?: unknown; password?: unknown };
  if (typeof record?.username !== 'string' || typeof record.password !== 'string') {
    throw new ConfigError(`secret ${secretId} must hold JSON {"username": string, "password": string}`);
  }
  return { user: record.username, password: record.password };
}

export interface ConfigSources {
  env: NodeJS.ProcessEnv;
  /** Explicit file (CLI --config); otherwise env CONFIG_FILE. */
  file?: string;
  /** Called only when a source needs the client (it may load the SDK module first). */
  ssm?: () => SSMClient | Promise<SSMClient>;
  secrets?: () => SecretsManagerClient | Promise<SecretsManagerClient>;
  /**
   * Routers are switched through SSM Run Command (the function, `--routers ssm`): a configuration that
   * could only be switched locally is refused now, naming the key, not after fence and promote.
   * Default: when ROUTER_DOCUMENT is set.
   */
  routersThroughSsm?: boolean;
  /** Aborts the SSM and Secrets Manager calls (the run's deadline). */
  signal?: AbortSignal;
}

/**
 * What SSM Run Command needs of every group: the instances to target (found by tag, or each router's
 * `instanceId`) and the router's config file on them. Throws ConfigError naming every missing key.
 */
export function requireSsmSwitchable(config: Config): void {
  const problems: string[] = [];
  config.groups.forEach((g, i) => {
    if (!g.ec2Tag) {
      g.routers.forEach((r, j) => {
        if (!r.instanceId)
          problems.push(
            `groups.${i}.routers.${j}.instanceId: missing for router ${r.id} of group ${g.name} (SSM Run Command targets instances; or find the group's routers with "ec2Tag")`,
          );
      });
    }
    if (!g.configPath && !g.routers.some((r) => r.configPath)) {
      problems.push(
        `groups.${i}.configPath: missing for group ${g.name} (the router's config file on each backend)`,
      );
    }
  });
  if (problems.length > 0) {
    throw new ConfigError(`routers are switched through SSM, but ${problems.join('; ')}`, {
      details: { problems },
    });
  }
}

/**
 * The configuration and secrets of a warm container, kept at most `maxAgeMs`: an edited parameter or
 * a rotated password is picked up within that age, and `invalidate()` (an authentication failure)
 * reads them again at once. A failed load is never kept.
 */
export class CachedConfig {
  private entry: { promise: Promise<Config>; loadedAt: number } | undefined;

  constructor(
    private readonly load: () => Promise<Config>,
    private readonly maxAgeMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The configuration, and whether it was read by this call (an invalidation would not help). */
  async get(): Promise<{ config: Config; fresh: boolean }> {
    const now = this.now();
    let fresh = false;
    if (!this.entry || now - this.entry.loadedAt >= this.maxAgeMs) {
      const promise = this.load();
      const entry = { promise, loadedAt: now };
      this.entry = entry;
      fresh = true;
      promise.catch(() => {
        if (this.entry === entry) this.entry = undefined;
      });
    }
    return { config: await this.entry.promise, fresh };
  }

  invalidate(): void {
    this.entry = undefined;
  }
}

/** Loads and validates the configuration once from every source that is set. */
export async function loadConfig(sources: ConfigSources): Promise<Config> {
  const { env } = sources;
  const origins: string[] = [];
  let raw: Raw = {};
  const file = sources.file ?? env.CONFIG_FILE;
  if (file) {
    raw = deepMerge(raw, await readConfigFile(file));
    origins.push(`file ${file}`);
  }
  if (env.CONFIG_SSM_PATH) {
    if (!sources.ssm) throw new ConfigError('CONFIG_SSM_PATH is set but no SSM client is available');
    raw = deepMerge(raw, await configFromSsm(await sources.ssm(), env.CONFIG_SSM_PATH, sources.signal));
    origins.push(`SSM ${env.CONFIG_SSM_PATH}`);
  }
  const fromEnv = await configFromEnv(env);
  if (Object.keys(fromEnv).length > 0) {
    raw = deepMerge(raw, fromEnv);
    origins.push('environment');
  }
  for (const [variable, key] of [
    ['DB_SECRET_ARN', 'watchdog'],
    ['REPLICATION_SECRET_ARN', 'replication'],
  ] as const) {
    const secretId = env[variable];
    if (!secretId) continue;
    if (!sources.secrets)
      throw new ConfigError(`${variable} is set but no Secrets Manager client is available`);
    const creds = await credentialsFromSecret(await sources.secrets(), secretId, sources.signal);
    raw = deepMerge(raw, { credentials: { [key]: creds } });
    origins.push(`secret ${variable}`);
  }
  if (origins.length === 0) {
    throw new ConfigError(
      'no configuration: pass --config FILE, or set CONFIG_FILE, CONFIG_SSM_PATH or MF_CONFIG',
    );
  }
  const config = parseConfig(raw, origins.join(' + '));
  if (!config.credentials.watchdog) {
    throw new ConfigError(
      'credentials.watchdog: missing (set it in the config, MF_DB_USER/MF_DB_PASSWORD, or DB_SECRET_ARN)',
    );
  }
  if (sources.routersThroughSsm ?? Boolean(env.ROUTER_DOCUMENT)) requireSsmSwitchable(config);
  return config;
}
