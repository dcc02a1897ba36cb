/**
 * The Verify step: observe again until the analysis says what the plan expects (or what its
 * acceptance rules allow), then CHECKSUM TABLE on each replica of the primary (operations/checksum.ts).
 */
import { type Analysis, analyze } from '../../core/analysis.js';
import { StateChangeRefusedError } from '../../errors.js';
import { compareChecksums } from '../checksum.js';
import type { StepHandler } from './env.js';

/** A replica's matter, for the next run: what a Verify's `replica-matter` acceptance allows. */
const REPLICA_MATTER = ['ReplicaDown', 'RecoverNeeded', 'ReplicationLagging', 'ReplicaErrantTransactions'];

export const verifyStep: StepHandler<'Verify'> = async (step, env) => {
  const { expect } = step;
  let code = '';
  let analysis: Analysis | null = null;
  for (let attempt = 0; attempt < 60; attempt++) {
    const snap = await env.deps.observe();
    const now = analyze(snap);
    analysis = now;
    code = now.code;
    // What the plan accepts besides `expect` (core/planner.ts VerifyAcceptance): a replica's matter
    // left for the next run with the operation's primary the primary.
    const accepted = step.accept.find((a) => now.primary === a.primary && REPLICA_MATTER.includes(code));
    if (accepted) {
      return {
        detail: `analysis ${code} with ${accepted.primary} the primary (expected ${expect}); left for the next run: ${now.evidence[0] ?? ''}`,
        data: { code },
      };
    }
    if (code === expect || code === 'Ok') {
      const checks: string[] = [];
      if (code === 'Ok' && analysis.primary) {
        const primary = analysis.primary;
        for (const s of snap.servers) {
          if (s.id === primary || !s.reachable || s.replication?.sourceId !== primary) continue;
          // A replica that was just re-pointed may still be settling (relay log, reconnect): a
          // difference must persist over three comparisons before the verification fails.
          const semi = { semiSync: env.config.semiSync };
          let cmp = await compareChecksums(await env.pool.get(primary), await env.pool.get(s.id), 30, semi);
          for (let retry = 1; retry < 3 && !cmp.consistent; retry++) {
            await new Promise((r) => setTimeout(r, 1_000));
            cmp = await compareChecksums(await env.pool.get(primary), await env.pool.get(s.id), 30, semi);
          }
          env.result.checksums.push({ replica: s.id, ...cmp });
          if (!cmp.consistent) {
            throw new StateChangeRefusedError(
              `${s.id} differs from ${primary}: ${[...cmp.differing.map((d) => d.table), ...cmp.missing.map((m) => `${m.table} missing on ${m.on}`)].join(', ')}`,
              { details: { replica: s.id, ...cmp } },
            );
          }
          checks.push(`${s.id}: ${cmp.tables} tables equal to ${primary} at ${cmp.position}`);
        }
      }
      return {
        detail: `analysis ${code}${checks.length ? `; CHECKSUM TABLE ${checks.join('; ')}` : ''}`,
        data: { code, checksums: env.result.checksums },
      };
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new StateChangeRefusedError(
    `verification expected ${expect}, the cluster is ${code}: ${analysis?.evidence.slice(0, 3).join('; ')}`,
  );
};
