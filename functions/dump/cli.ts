import { createReadStream, existsSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, UsageError } from '../errors.js';
import { type OpenStoreOptions, openObjectStore, parseStoreUrl } from '../storage/open-store.js';
import { type ConnectTarget, parseHostPort } from './connection.js';
import { type DumpResult, dumpDatabase } from './dump.js';
import { type LoadSqlResult, loadSqlDump } from './load-sql.js';
import { formatProgress, type ProgressReport } from './progress.js';
import { loadVerifiedManifest, type RestoreResult, restoreDump } from './restore.js';
import { guardRestoreTarget } from './restore-guard.js';

/**
 * `repl-watchdog dump` and `repl-watchdog restore`, as functions the CLI entry point calls with the
 * arguments after the sub-command. The password never comes from argv (it would show in `ps`): it is
 * read from MYSQL_PWD, like the mysql client does, or passed in by the caller from the watchdog config.
 */
export const DUMP_USAGE = `usage: repl-watchdog dump --from HOST:PORT --to s3://BUCKET/PREFIX|DIR [options]
  --user NAME            account (default: $MYSQL_USER or root); password from $MYSQL_PWD
  --workers N            parallel connections at the same snapshot (default 2)
  --chunk-rows N         split tables with an integer primary key in chunks of N rows (default 100000)
  --level N              gzip level 1-9 (default 1)
  --schemas a,b          only these schemas (default: all user schemas)
  --users                also dump accounts and grants
  --s3-endpoint URL      S3-compatible endpoint (path-style addressing)
  --sse AES256|aws:kms   server-side encryption; --kms-key-id ID for aws:kms
  --checksum ALG         S3 integrity checksum: CRC32, CRC32C, SHA1, SHA256 (default CRC32)`;

export const RESTORE_USAGE = `usage: repl-watchdog restore --from s3://BUCKET/PREFIX|DIR|FILE.sql[.gz] --into HOST:PORT [options]
  --user NAME            account (default: $MYSQL_USER or root); password from $MYSQL_PWD
  --workers N            parallel loaders (default 2)
  --replace              drop the dump's schemas on the target first (otherwise refused if present)
  --set-gtid             set the target's GTID position to the dump's (RESET MASTER: the target's
                         binary logs and GTID history are lost; it becomes a fresh replica)
  --no-gtid              leave the target's GTID position alone (one of the two is required)
  --force                restore even into a target that is writable, has replicas attached, is used by
                         a router of the --config, or holds transactions the dump lacks
  --s3-endpoint URL      S3-compatible endpoint (path-style addressing)
  A FILE.sql or FILE.sql.gz (local or s3://…/FILE.sql.gz) is loaded as a mysqldump/mariadb-dump file.`;

export interface CommandContext {
  /** Credentials from the watchdog config; overrides --user and the environment when given. */
  credentials?: { user: string; password: string };
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** Progress lines and the summary (default: stderr). */
  log?: (line: string) => void;
  /** Extra S3 options (a client built once, credentials). */
  storeOptions?: OpenStoreOptions;
  /** The routers (group/id) sending connections to host:port (from the watchdog config, when given). */
  routedTo?: (host: string, port: number) => Promise<string[]>;
}

function intOpt(v: string | undefined, name: string, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`--${name} must be an integer >= ${min}, got '${v}'`);
  return n;
}

function target(
  hostPort: string | undefined,
  flag: string,
  ctx: CommandContext,
  user?: string,
): ConnectTarget {
  if (!hostPort) throw new UsageError(`--${flag} HOST:PORT is required`);
  const env = ctx.env ?? process.env;
  const { host, port } = parseHostPort(hostPort);
  return {
    host,
    port,
    user: ctx.credentials?.user ?? user ?? env.MYSQL_USER ?? 'root',
    password: ctx.credentials?.password ?? env.MYSQL_PWD ?? '',
  };
}

function storeOptions(
  values: Record<string, string | boolean | undefined>,
  ctx: CommandContext,
): OpenStoreOptions {
  const o: OpenStoreOptions = { ...(ctx.storeOptions ?? {}) };
  const endpoint = values['s3-endpoint'];
  if (typeof endpoint === 'string') {
    o.endpoint = endpoint;
    o.forcePathStyle = true;
  }
  const sse = values.sse;
  if (sse === 'AES256') o.sse = { type: 'AES256' };
  else if (sse === 'aws:kms') {
    const kms = values['kms-key-id'];
    o.sse = typeof kms === 'string' ? { type: 'aws:kms', kmsKeyId: kms } : { type: 'aws:kms' };
  } else if (sse !== undefined) throw new UsageError(`--sse must be AES256 or aws:kms, got '${String(sse)}'`);
  const checksum = values.checksum ?? 'CRC32';
  if (!['CRC32', 'CRC32C', 'SHA1', 'SHA256', 'CRC64NVME'].includes(String(checksum))) {
    throw new UsageError(`--checksum must be CRC32, CRC32C, SHA1 or SHA256, got '${String(checksum)}'`);
  }
  o.checksumAlgorithm = checksum as OpenStoreOptions['checksumAlgorithm'];
  return o;
}

const COMMON = {
  user: { type: 'string' },
  workers: { type: 'string' },
  's3-endpoint': { type: 'string' },
  sse: { type: 'string' },
  'kms-key-id': { type: 'string' },
  checksum: { type: 'string' },
  help: { type: 'boolean' },
} as const;

function parse<T extends Record<string, { type: 'string' | 'boolean' }>>(
  argv: string[],
  options: T,
  usage: string,
) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: false, strict: true });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n${usage}`);
  }
}

export async function runDumpCommand(argv: string[], ctx: CommandContext = {}): Promise<DumpResult | null> {
  const log = ctx.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const { values } = parse(
    argv,
    {
      ...COMMON,
      from: { type: 'string' },
      to: { type: 'string' },
      'chunk-rows': { type: 'string' },
      level: { type: 'string' },
      schemas: { type: 'string' },
      users: { type: 'boolean' },
    },
    DUMP_USAGE,
  );
  if (values.help) {
    log(DUMP_USAGE);
    return null;
  }
  if (!values.to) throw new UsageError(`--to s3://BUCKET/PREFIX|DIR is required\n${DUMP_USAGE}`);
  const source = target(values.from, 'from', ctx, values.user);
  const store = openObjectStore(values.to, storeOptions(values, ctx));
  if (await store.head('manifest.json')) {
    throw new ConfigError(`${values.to} already holds a dump (manifest.json); choose a new location`);
  }
  const result = await dumpDatabase({
    source,
    store,
    workers: intOpt(values.workers, 'workers', 2),
    chunkRows: intOpt(values['chunk-rows'], 'chunk-rows', 100_000),
    compressionLevel: intOpt(values.level, 'level', 1),
    includeUsers: values.users === true,
    ...(values.schemas ? { schemas: values.schemas.split(',').map((s) => s.trim()) } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    onProgress: (p: ProgressReport) => log(formatProgress(p)),
  });
  log(`dump complete: ${result.url} at GTID ${result.manifest.gtid.position}`);
  return result;
}

/** A restore source that is one SQL file (local path or s3://…/name.sql[.gz]) rather than a dump folder. */
function sqlFileSource(from: string): { dir: string; key: string } | null {
  if (!/\.sql(\.gz)?$/i.test(from)) return null;
  const loc = parseStoreUrl(from);
  if (loc.kind === 'folder' && (!existsSync(loc.path) || !statSync(loc.path).isFile())) return null;
  const i = from.lastIndexOf('/');
  return { dir: i < 0 ? '.' : from.slice(0, i) || '/', key: from.slice(i + 1) };
}

export async function runRestoreCommand(
  argv: string[],
  ctx: CommandContext = {},
): Promise<RestoreResult | LoadSqlResult | null> {
  const log = ctx.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const { values } = parse(
    argv,
    {
      ...COMMON,
      from: { type: 'string' },
      into: { type: 'string' },
      replace: { type: 'boolean' },
      'no-gtid': { type: 'boolean' },
      'set-gtid': { type: 'boolean' },
      force: { type: 'boolean' },
    },
    RESTORE_USAGE,
  );
  if (values.help) {
    log(RESTORE_USAGE);
    return null;
  }
  if (!values.from) throw new UsageError(`--from s3://BUCKET/PREFIX|DIR|FILE is required\n${RESTORE_USAGE}`);
  const into = target(values.into, 'into', ctx, values.user);
  const sOpts = storeOptions(values, ctx);
  const file = sqlFileSource(values.from);
  if (!file && values['set-gtid'] === values['no-gtid']) {
    throw new UsageError(
      `say --set-gtid (RESET MASTER, then the dump's position: the target's binary logs and GTID history are lost) or --no-gtid\n${RESTORE_USAGE}`,
    );
  }
  // The target is checked before anything touches it (restore-guard.ts).
  const routedBy = ctx.routedTo ? await ctx.routedTo(into.host!, into.port!) : [];
  const dumpGtid = file
    ? ''
    : (await loadVerifiedManifest(openObjectStore(values.from, sOpts))).manifest.gtid.position;
  const forced = await guardRestoreTarget({ target: into, dumpGtid, routedBy, force: values.force === true });
  for (const problem of forced) log(`warning: --force: restoring although ${problem}`);
  const onProgress = (p: ProgressReport) => log(formatProgress(p));
  if (file) {
    const loc = parseStoreUrl(values.from);
    const source =
      loc.kind === 'folder'
        ? createReadStream(loc.path)
        : await openObjectStore(file.dir, sOpts).get(file.key);
    const r = await loadSqlDump({
      target: into,
      source,
      name: values.from,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      onProgress,
    });
    log(`loaded ${values.from}: ${r.statements} statements, ${r.rows} rows`);
    return r;
  }
  const r = await restoreDump({
    target: into,
    store: openObjectStore(values.from, sOpts),
    workers: intOpt(values.workers, 'workers', 2),
    replace: values.replace === true,
    setGtid: values['set-gtid'] === true,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    onProgress,
  });
  log(
    `restore complete${r.resumed ? ` (resumed: ${r.objectsSkipped} objects were already loaded)` : ''}; GTID position ${r.gtidPosition || '(not set)'}`,
  );
  return r;
}
