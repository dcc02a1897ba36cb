/**
 * What a resumable dump keeps between invocations, next to its objects (see README.md, "Dumps that
 * resume"): the plan of parts (fixed by the first invocation, so every later one cuts the same
 * ranges), one record per session (an invocation's snapshot: its GTID position and whether its binary
 * log can be replayed idempotently) and one record per finished part (its manifest entry and the
 * session that read it). The decision which parts a new session keeps is pure: `keepParts`.
 */
import { PassThrough } from 'node:stream';
import { z } from 'zod';
import { parseGtidSet } from '../core/gtid.js';
import { type ObjectStore, readAll } from '../storage/object-store.js';
import { type DumpObject, manifestSchema } from './manifest.js';

export const RESUME_PREFIX = '_resume/';
export const resumeKey = {
  plan: () => `${RESUME_PREFIX}plan.json`,
  session: (n: number) => `${RESUME_PREFIX}sessions/${String(n).padStart(5, '0')}.json`,
  part: (objectKey: string) => `${RESUME_PREFIX}parts/${encodeURIComponent(objectKey)}.json`,
};

const planSchema = z.object({
  /** Identity of the tables the plan was cut for: schema, name and the columns read. */
  tables: z.array(z.object({ schema: z.string(), name: z.string(), columns: z.array(z.string()) })),
  parts: z.array(
    z.object({
      key: z.string(),
      schema: z.string(),
      table: z.string(),
      chunk: z.number().int().nonnegative(),
      where: z.string().nullable(),
      /** Read in the dump's first kept session only (see firstSessionReason). */
      firstSession: z.boolean(),
    }),
  ),
});
export type DumpPlan = z.infer<typeof planSchema>;

const sessionSchema = z.object({
  session: z.number().int().nonnegative(),
  started: z.string(),
  serverId: z.number().int(),
  flavor: z.enum(['mariadb', 'mysql']),
  gtid: manifestSchema.shape.gtid,
  /** binlog_format=ROW and binlog_row_image=FULL: the events after this position replay idempotently. */
  rowBinlog: z.boolean(),
});
export type SessionRecord = z.infer<typeof sessionSchema>;

const partSchema = z.object({ session: z.number().int().nonnegative(), object: z.unknown() });
export interface PartRecord {
  session: number;
  object: DumpObject;
}

async function getJson(store: ObjectStore, key: string): Promise<unknown> {
  try {
    return JSON.parse((await readAll(await store.get(key))).toString('utf8'));
  } catch {
    return undefined;
  }
}

export async function putJson(
  store: ObjectStore,
  key: string,
  value: unknown,
  signal?: AbortSignal,
): Promise<void> {
  const body = new PassThrough();
  body.end(Buffer.from(JSON.stringify(value), 'utf8'));
  await store.put(key, body, { contentType: 'application/json', ...(signal ? { signal } : {}) });
}

export interface StoredState {
  plan: DumpPlan | undefined;
  sessions: SessionRecord[];
  /** Parts whose object is present with the size its record says. */
  parts: PartRecord[];
}

/** Reads what earlier sessions left: an unreadable or inconsistent record counts as absent. */
export async function readStoredState(store: ObjectStore): Promise<StoredState> {
  const listing = await store.list('');
  const sizes = new Map(listing.map((o) => [o.key, o.size]));
  const planJson = sizes.has(resumeKey.plan()) ? await getJson(store, resumeKey.plan()) : undefined;
  const plan = planSchema.safeParse(planJson);
  const sessions: SessionRecord[] = [];
  const parts: PartRecord[] = [];
  const objectSchema = manifestSchema.shape.objects.element;
  const records = listing.filter(
    (o) => o.key.startsWith(`${RESUME_PREFIX}sessions/`) || o.key.startsWith(`${RESUME_PREFIX}parts/`),
  );
  // Hundreds of small records on a big dump: read 16 at a time, not one after the other.
  for (let i = 0; i < records.length; i += 16) {
    const batch = records.slice(i, i + 16);
    const bodies = await Promise.all(batch.map((o) => getJson(store, o.key)));
    batch.forEach((o, j) => {
      if (o.key.startsWith(`${RESUME_PREFIX}sessions/`)) {
        const s = sessionSchema.safeParse(bodies[j]);
        if (s.success) sessions.push(s.data);
        return;
      }
      const p = partSchema.safeParse(bodies[j]);
      const obj = p.success ? objectSchema.safeParse(p.data.object) : undefined;
      if (p.success && obj?.success && sizes.get(obj.data.key) === obj.data.compressedBytes)
        parts.push({ session: p.data.session, object: obj.data });
    });
  }
  sessions.sort((a, b) => a.session - b.session);
  return { plan: plan.success ? plan.data : undefined, sessions, parts };
}

export interface KeepDecision {
  kept: PartRecord[];
  /** Why nothing was kept although parts were stored (for the log and the tests). */
  discarded?: string;
}

/**
 * Which stored parts the current session may build on. Parts read at different positions make one
 * consistent server only if the binary log between the earliest and the latest position can be
 * replayed over them idempotently (README.md): every session involved logged full row images, all
 * sessions read the same server and positions only grow, and every part that must be read at the
 * earliest position (firstSession) was read by the earliest kept session. Otherwise nothing is kept.
 */
export function keepParts(state: StoredState, current: SessionRecord): KeepDecision {
  const { plan, parts } = state;
  if (!plan || parts.length === 0) return { kept: [] };
  const sessions = new Map(state.sessions.map((s) => [s.session, s]));
  const planned = new Map(plan.parts.map((p) => [p.key, p]));
  const used = parts.filter((p) => planned.has(p.object.key));
  if (used.length === 0) return { kept: [] };
  const discard = (why: string): KeepDecision => ({ kept: [], discarded: why });
  const now = parseGtidSet(current.gtid.position, current.flavor);
  let earliest = Number.POSITIVE_INFINITY;
  for (const p of used) {
    const s = sessions.get(p.session);
    if (!s) return discard(`the record of session ${p.session} is missing`);
    if (s.serverId !== current.serverId || s.flavor !== current.flavor)
      return discard(`session ${s.session} read server_id ${s.serverId}, this one reads ${current.serverId}`);
    if (!s.rowBinlog || !current.rowBinlog)
      return discard('the source does not log full row images (binlog_format=ROW, binlog_row_image=FULL)');
    if (!now.contains(parseGtidSet(s.gtid.position, s.flavor)))
      return discard(
        `the position now (${current.gtid.position}) does not follow session ${s.session}'s (${s.gtid.position})`,
      );
    earliest = Math.min(earliest, p.session);
  }
  const done = new Map(used.map((p) => [p.object.key, p.session]));
  for (const p of plan.parts) {
    if (p.firstSession && done.get(p.key) !== earliest)
      return discard(`${p.key} must be read at the earliest position and was not`);
  }
  return { kept: used };
}
