/**
 * Rebuilding a server: save what only it holds (Salvage), overwrite it from its source (Reseed:
 * physical when config.reseed chooses it, else a logical dump), make it replicate (StartReplication).
 */
import { mysqlTls, replicationTls } from '../../cluster/tls.js';
import { ConfigError } from '../../errors.js';
import { type ServerAdmin, serverById } from '../admin.js';
import { clearFenced } from '../journal.js';
import { physicalIfChosen, refuseIfReplicatedFrom } from '../physical/branch.js';
import { replaySourceOf, reseed } from '../reseed.js';
import { salvage } from '../salvage.js';
import { fence, startReplication } from '../server-steps.js';
import { dumpPrefix, operationPrefix, subStore } from '../store.js';
import type { StepEnv, StepHandler } from './env.js';
import { guardServerChange } from './guard.js';

const prefix = (env: StepEnv) => operationPrefix(env.config, env.ctx.openedEpoch);

export const salvageStep: StepHandler<'Salvage'> = async (step, env) => {
  const { config, cred } = env;
  const replication = config.credentials.replication;
  const name = serverById(config, step.server).name;
  const record = await salvage({
    old: await env.pool.get(step.server),
    newPrimary: await env.pool.get(step.missingOn),
    store: subStore(env.deps.store(), `${prefix(env)}/salvage-${name}`),
    watchdog: { ...cred, ...mysqlTls(config.tls) },
    ...(replication ? { replication } : {}),
    signal: env.ctx.signal,
  });
  env.result.salvage.push(record);
  return {
    detail: `${record.count} transaction(s) of ${step.server} missing on ${step.missingOn}${record.difference ? ` (${record.difference})` : ''}; saved: ${record.url}${record.binlogExtract ? `, events ${record.binlogExtract.url}` : ''}${record.backup ? `, backup ${record.backup.url} (${record.backup.rows} rows)` : ''}`,
    data: { url: record.url, count: record.count, difference: record.difference },
  };
};

/**
 * Issue 13, before a logical reseed overwrites `target` (the physical one checks the same in
 * physical/branch.ts): a server that others replicate from is never overwritten, and a writable one is
 * made read-only first (guardServerChange has just seen no router send to it), so no write lands on
 * it while it is replaced. Returns what was done, for the step's detail.
 */
async function prepareReseedTarget(
  target: ServerAdmin,
  source: ServerAdmin,
  keepUser: string,
  watchdogWritable: boolean,
) {
  await refuseIfReplicatedFrom(target, { notReplicas: [source] });
  const [r] = await target.query<{ ro: unknown }>('SELECT @@global.read_only AS ro');
  if (Number(r?.ro) === 1) return '';
  await fence(target, [keepUser], { watchdogWritable });
  return `${target.id} was writable: made read-only before it was overwritten; `;
}

export const reseedStep: StepHandler<'Reseed'> = async (step, env) => {
  const { config, cred, pool } = env;
  const replication = config.credentials.replication;
  const name = serverById(config, step.server).name;
  // config.reseed chooses: a physical rebuild on the hosts (or CLONE), else the logical dump below.
  const physical = await physicalIfChosen({
    config,
    db: env.db,
    openedEpoch: env.ctx.openedEpoch,
    source: await pool.get(step.from),
    target: step.server,
    connectTarget: async () => {
      await pool.drop(step.server);
      return pool.get(step.server);
    },
    ...(env.deps.hostCommands ? { commands: env.deps.hostCommands } : {}),
    store: env.deps.store(),
    // The name stays as it was for operations in flight across an upgrade; the object is zstd or
    // gzip, whichever the source host used (infra/ssm/reseed/object-stream.py tells them apart).
    key: `${prefix(env)}/physical-${name}/backup.xb.gz`,
    donorAccount: { user: cred.user, password: cred.password },
    beforeRestore: () => guardServerChange(config, step, cred, step.server),
    signal: env.ctx.signal,
    log: env.log,
    onProgress: (p) => {
      env.result.reseedProgress = p;
    },
  });
  if (physical) return physical;
  const target = await pool.get(step.server);
  const source = await pool.get(step.from);
  const prepared = await prepareReseedTarget(target, source, cred.user, step.server === env.coordinationId);
  const reseeded = await reseed({
    target,
    source,
    // Dumps apart from the records: the lifecycle expires them, never salvage or audit records.
    store: subStore(env.deps.store(), `${dumpPrefix(config, env.ctx.openedEpoch)}/reseed-${name}`),
    watchdog: { ...cred, ...mysqlTls(config.tls) },
    ...(replication ? { replication: replaySourceOf(config, step.from, replication) } : {}),
    signal: env.ctx.signal,
  });
  return { ...reseeded, detail: `${prepared}${reseeded.detail}` };
};

export const startReplicationStep: StepHandler<'StartReplication'> = async (step, env) => {
  const { config, cred } = env;
  const replication = config.credentials.replication;
  if (!replication) throw new ConfigError('credentials.replication is missing: cannot start replication');
  const src = serverById(config, step.from);
  const admin = await env.pool.get(step.server);
  // A rebuilt server joins as a read-only replica, whatever happened during its rebuild (a
  // restart drops a read_only set with SET GLOBAL): it goes back into the routers as a fallback
  // only, and a router that falls back to it gets no write through until it is promoted.
  const kept = step.keepReadOnly
    ? await fence(admin, [cred.user], { watchdogWritable: step.server === env.coordinationId })
    : null;
  const r = await startReplication(admin, {
    sourceHost: src.replicationHost,
    sourcePort: src.replicationPort,
    user: replication.user,
    password: replication.password,
    gtidMode: step.gtidMode,
    timeoutMs: 30_000,
    tls: replicationTls(config.tls),
  });
  await clearFenced(env.db, step.server);
  return kept ? { ...r, detail: `${r.detail}; kept read-only (${kept.detail})` } : r;
};
