/**
 * `repl-watchdog adopt --config FILE`: looks at a running cluster (typically one the original
 * `repl-watchdog` script manages from cron) before the watchdog takes it over, and changes nothing.
 * It prints what it found (each server's replication source and how it was matched — an alias such as
 * the script's `BDD_PEER` is matched by the server_id its IO thread reached —, whether both servers
 * are writable, the script's `ongoing_failover` election database), the configuration the watchdog
 * needs (`replicationHost` aliases), and what the first run would do (a dry run of the cycle).
 * The advice is a pure function of what was read (`adviseAdoption`), tested without I/O.
 */
import type { Config } from '../config/schema.js';
import type { ServerObservation, Snapshot } from '../core/snapshot.js';
import { COORDINATION_SCHEMA } from '../election/schema.js';
import { errorMessage } from '../errors.js';
import { connectAll } from './control-store.js';
import { type CycleDeps, type CycleReport, runCycle } from './cycle.js';

/** What a server holds of the election database (`ongoing_failover`). */
export interface ElectionSchemaFacts {
  server: string;
  /** Tables of `ongoing_failover` (empty: no such database). */
  tables: string[];
  /** Rows of `ongoing_failover.status` (signals of an operation in progress). */
  statusRows: number;
  error?: string;
}

export interface AdoptionAdvice {
  /** What was observed, one line each. */
  found: string[];
  /** What to do before enabling the schedule (empty: nothing). */
  warnings: string[];
  /** The `servers` part of the configuration the watchdog needs (aliases filled in). */
  configuration: { servers: Array<Record<string, unknown>> };
  /** Why each configuration change is there. */
  configurationNotes: string[];
  /** What the first run would do, per group (a dry run). */
  firstRun: string[];
}

/** The watchdog's own election tables (functions/election/schema.ts, control-store.ts). */
const WATCHDOG_TABLES = ['operation', 'history', 'control'];

function electionLine(e: ElectionSchemaFacts): { found: string; warning?: string } {
  if (e.error) return { found: `${e.server}: ${COORDINATION_SCHEMA} not readable: ${e.error}` };
  if (e.tables.length === 0)
    return { found: `${e.server}: no ${COORDINATION_SCHEMA} database (no operation running)` };
  const ours = e.tables.some((t) => WATCHDOG_TABLES.includes(t));
  const what = `${e.server}: ${COORDINATION_SCHEMA} holds ${e.tables.join(', ')} (${e.statusRows} signal(s) in status)`;
  if (ours) return { found: `${what}: the watchdog's layout` };
  return {
    found: `${what}: the original script's layout`,
    warning: `${e.server}: the original script's ${COORDINATION_SCHEMA} database is there, so one of its operations is running or was left behind (${e.statusRows} signal(s)). Switch the script off on every backend, wait until no repl-watchdog process runs, then drop the database (the watchdog creates its own tables)`,
  };
}

function sourceLine(
  s: ServerObservation,
  config: Config,
): { found: string; alias?: { source: string; host: string; port: number } } {
  const r = s.replication;
  if (!r) return { found: `${s.id}: replicates from nobody` };
  const threads = `IO ${r.ioRunning}, SQL ${r.sqlRunning}`;
  const address = `${r.sourceHost}:${r.sourcePort}`;
  if (!r.sourceId) {
    return {
      found: `${s.id}: replicates from ${address} (${threads}), which matches no configured server${r.sourceServerId ? ` (its IO thread reached server_id ${r.sourceServerId}, which no configured server has)` : ''}: the watchdog would rebuild it`,
    };
  }
  const src = config.servers.find((c) => c.id === r.sourceId);
  if (r.sourceMatchedBy) {
    return {
      found: `${s.id}: replicates from ${address} (${threads}), an alias of ${r.sourceId} (matched by ${r.sourceMatchedBy}): kept, never rebuilt`,
      alias: { source: r.sourceId, host: r.sourceHost, port: r.sourcePort },
    };
  }
  const how =
    src && src.replicationHost === r.sourceHost && src.replicationHost !== src.host
      ? ' (its replicationHost)'
      : '';
  return { found: `${s.id}: replicates from ${r.sourceId}${how} (${threads})` };
}

/** The advice, from what was read. Pure. */
export function adviseAdoption(
  config: Config,
  snapshot: Snapshot,
  election: readonly ElectionSchemaFacts[],
  firstRuns: readonly CycleReport[],
): AdoptionAdvice {
  const found: string[] = [];
  const warnings: string[] = [];
  const notes: string[] = [];
  const aliases = new Map<string, { host: string; port: number }>();
  for (const s of snapshot.servers) {
    if (!s.reachable) {
      found.push(`${s.id}: unreachable: ${s.error?.message ?? 'no answer'}`);
      warnings.push(`${s.id} does not answer: adopt a cluster whose servers all answer`);
      continue;
    }
    found.push(
      `${s.id}: ${s.versionComment ?? s.flavor ?? 'server'} ${s.version ?? ''}, server_id ${s.serverId}, ${s.readOnly ? 'read-only' : 'writable'}`,
    );
    const line = sourceLine(s, config);
    found.push(line.found);
    if (line.alias) aliases.set(line.alias.source, { host: line.alias.host, port: line.alias.port });
    if (s.replication && !s.replication.sourceId)
      warnings.push(
        `${s.id} replicates from a server the configuration does not name: fix that before the first run`,
      );
  }
  const up = snapshot.servers.filter((s) => s.reachable);
  const writable = up.filter((s) => s.readOnly === false);
  if (up.length > 1 && writable.length === up.length) {
    found.push(
      `every server is writable (read_only OFF), as the original script runs them: kept (routers move writes on their own; the watchdog fences an old primary until it is rebuilt)`,
    );
  } else if (up.length > 1) {
    found.push(
      `writable: ${writable.map((s) => s.id).join(', ') || 'none'}; read-only: ${
        up
          .filter((s) => s.readOnly)
          .map((s) => s.id)
          .join(', ') || 'none'
      }`,
    );
  }
  for (const e of election) {
    const l = electionLine(e);
    found.push(l.found);
    if (l.warning) warnings.push(l.warning);
  }
  // The original script names each server's peer by the same alias: with two servers, once one
  // replica shows it, the other server is reached by it as well after a failover.
  if (aliases.size > 0 && config.servers.length === 2) {
    const [alias] = [...aliases.values()];
    for (const c of config.servers) if (!aliases.has(c.id)) aliases.set(c.id, alias!);
    notes.push(
      `two servers, each naming its peer by the same alias (the original script's /etc/hosts ${alias!.host}): both get it as replicationHost, so a replica the watchdog points at either one uses the name its host resolves`,
    );
  }
  for (const [id, a] of aliases)
    notes.push(
      `${id}: replicationHost ${a.host}${a.port !== config.servers.find((c) => c.id === id)?.port ? `, replicationPort ${a.port}` : ''} (the address its replicas use)`,
    );
  const configuration = {
    servers: config.servers.map((c) => {
      const a = aliases.get(c.id);
      return {
        host: c.host,
        port: c.port,
        ...(c.name !== c.id ? { name: c.name } : {}),
        ...(a
          ? { replicationHost: a.host }
          : c.replicationHost !== c.host
            ? { replicationHost: c.replicationHost }
            : {}),
        ...(a && a.port !== c.port ? { replicationPort: a.port } : {}),
        ...(c.promotion !== 'neutral' ? { promotion: c.promotion } : {}),
      };
    }),
  };
  const firstRun = firstRuns.map((r) => {
    const group = r.group ? `group ${r.group}` : 'cluster';
    if (r.error) return `${group}: the dry run failed: ${String(r.error.message ?? JSON.stringify(r.error))}`;
    const steps = r.plan?.steps.map((s) => s.kind).join(', ');
    return `${group}: ${r.analysis?.code ?? '?'} -> ${r.plan?.kind ?? '?'}${r.plan?.operation ? ` ${r.plan.operation}` : ''}${steps ? ` (${steps})` : ''}: ${r.plan?.reason ?? ''}`;
  });
  for (const r of firstRuns)
    if (r.plan?.kind === 'operation')
      warnings.push(
        `the first run would start ${r.plan.operation} (${r.analysis?.code}): settle it, or start with a cluster maintenance window, before enabling the schedule`,
      );
  return { found, warnings, configuration, configurationNotes: notes, firstRun };
}

/** Reads the election database's tables on every server (nothing is created or changed). */
export async function readElectionSchemas(config: Config): Promise<ElectionSchemaFacts[]> {
  const { dbs, failed } = await connectAll(config);
  const out: ElectionSchemaFacts[] = failed.map((f) => ({
    server: f.server,
    tables: [],
    statusRows: 0,
    error: f.error,
  }));
  for (const { server, db } of dbs) {
    try {
      const rows = await db.query<{ t: string }>(
        'SELECT table_name AS t FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name',
        [COORDINATION_SCHEMA],
      );
      const tables = rows.map((r) => String(r.t));
      let statusRows = 0;
      if (tables.includes('status')) {
        const [n] = await db.query<{ n: number }>(
          `SELECT COUNT(*) AS n FROM \`${COORDINATION_SCHEMA}\`.status`,
        );
        statusRows = Number(n?.n ?? 0);
      }
      out.push({ server, tables, statusRows });
    } catch (error) {
      out.push({ server, tables: [], statusRows: 0, error: errorMessage(error) });
    } finally {
      await db.close().catch(() => undefined);
    }
  }
  const order = config.servers.map((s) => s.id);
  return out.sort((a, b) => order.indexOf(a.server) - order.indexOf(b.server));
}

/** Looks at the running cluster and advises; every cycle is a dry run. */
export async function inspectForAdoption(
  config: Config,
  deps: CycleDeps = {},
): Promise<AdoptionAdvice & { reports: CycleReport[] }> {
  const reports = await Promise.all(
    config.groups.map((g) =>
      runCycle(config, { trigger: 'cli', action: 'check', group: g.name, dryRun: true, force: false }, deps),
    ),
  );
  const snapshot = reports.find((r) => r.snapshot)?.snapshot as Snapshot | undefined;
  const election = await readElectionSchemas(config);
  const advice = adviseAdoption(
    config,
    snapshot ?? {
      takenAt: '',
      cluster: config.clusterName,
      configuredPrimary: null,
      servers: [],
      groups: [],
      routers: [],
      queries: 0,
      durationMs: 0,
    },
    election,
    reports,
  );
  return { ...advice, reports };
}

export function formatAdoption(a: AdoptionAdvice): string {
  return [
    'Found:',
    ...a.found.map((l) => `  ${l}`),
    '',
    'Configuration the watchdog needs (servers):',
    ...JSON.stringify(a.configuration, null, 2)
      .split('\n')
      .map((l) => `  ${l}`),
    ...a.configurationNotes.map((l) => `  - ${l}`),
    '',
    'First run (dry):',
    ...a.firstRun.map((l) => `  ${l}`),
    '',
    a.warnings.length > 0
      ? 'Before enabling the schedule:'
      : 'Nothing to settle before enabling the schedule.',
    ...a.warnings.map((l) => `  - ${l}`),
  ].join('\n');
}
