/**
 * One "invocation" of the function's reseed for bench/reseed-scale.ts: the entry that bench bundles
 * with the function's own esbuild options (scripts/esbuild-options.mjs) and runs with plain `node`, one
 * process per invocation, so that the memory it reports is the function's code alone: no tsx, no
 * sandbox harness, no benchmark bookkeeping.
 *
 *   node reseed-invocation.mjs '<json request>'
 *
 * - `logical`: operations/reseed.ts (dump to the store, restore) with the run's AbortSignal stopped at
 *   `deadlineMs`, as the function's own deadline stops it; what is stored is continued by the next
 *   invocation (a new process).
 * - `physical`: physical/orchestrate.ts. The host commands (SSM in the function) are the parent's: the
 *   child asks for start/status over the IPC channel, the parent runs the host script locally.
 *
 * Prints one JSON line on stdout at the end, written whole before the process exits: the outcome and
 * this process's memory (maxRSS of process.resourceUsage(), peaks of process.memoryUsage() sampled every
 * 100 ms). Progress goes to stderr.
 */
import { type Config, parseConfig } from '../functions/config/schema.js';
import type { ServerId } from '../functions/core/snapshot.js';
import { connectCoordinationDb } from '../functions/election/db.js';
import { errorMessage } from '../functions/errors.js';
import { connectAdmin, type ServerAdmin, serverById } from '../functions/operations/admin.js';
import type { CommandStatus, HostCommands } from '../functions/operations/physical/commands.js';
import { physicalReseed } from '../functions/operations/physical/orchestrate.js';
import type { ReseedCommandRequest } from '../functions/operations/physical/parameters.js';
import { replaySourceOf, reseed } from '../functions/operations/reseed.js';
import type { StepResult } from '../functions/operations/server-steps.js';
import { type OpenStoreOptions, openObjectStore } from '../functions/storage/open-store.js';

export interface InvocationRequest {
  kind: 'logical' | 'physical';
  /** The configuration as the function reads it (parsed here, as the function does). */
  config: unknown;
  source: ServerId;
  target: ServerId;
  storeUrl: string;
  storeOptions: OpenStoreOptions;
  /** The invocation's deadline: the run's signal aborts after this many ms (none when absent). */
  deadlineMs?: number;
  /** physical: the backup's key under the store, and the journal's operation epoch. */
  key?: string;
  openedEpoch?: number;
  pollMs?: number;
}

export interface MemoryPeaks {
  /** process.resourceUsage().maxRSS at the end, in MiB. */
  maxRssMb: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

export interface InvocationOutcome {
  ok: boolean;
  /** The run stopped at its deadline (a DeadlineError or an abort after the signal fired). */
  stopped: boolean;
  detail: string;
  ms: number;
  memory: MemoryPeaks;
}

/** Messages on the IPC channel between this child and the bench. */
type HostRequest =
  | { call: 'start'; server: ServerId; request: ReseedCommandRequest }
  | { call: 'status'; server: ServerId; commandId: string }
  | { call: 'reachable'; server: ServerId };
export type HostCall = HostRequest & { id: number };
export type HostReply = { id: number; value?: unknown; error?: string };

const mib = (n: number) => Math.round(n / 2 ** 20);
const peaks = { rss: 0, heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0 };
const sample = () => {
  const m = process.memoryUsage();
  for (const k of Object.keys(peaks) as (keyof typeof peaks)[]) peaks[k] = Math.max(peaks[k], m[k]);
};
const sampler = setInterval(sample, 100);
sampler.unref();

/** The host commands of the function (SSM there), answered by the parent over IPC. */
class ParentHostCommands implements HostCommands {
  readonly kind = 'local';
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor() {
    process.on('message', (m: HostReply) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.error !== undefined) w.reject(new Error(m.error));
      else w.resolve(m.value);
    });
  }

  private ask<T>(call: HostRequest): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      process.send?.({ ...call, id });
    });
  }

  reachable(server: ServerId): Promise<boolean> {
    return this.ask({ call: 'reachable', server });
  }
  start(server: ServerId, request: ReseedCommandRequest): Promise<string> {
    return this.ask({ call: 'start', server, request });
  }
  status(server: ServerId, commandId: string): Promise<CommandStatus> {
    return this.ask({ call: 'status', server, commandId });
  }
}

async function logical(
  config: Config,
  req: InvocationRequest,
  store: ReturnType<typeof openObjectStore>,
  signal: AbortSignal,
) {
  const [t, s] = await Promise.all([connectAdmin(config, req.target), connectAdmin(config, req.source)]);
  try {
    return await reseed({
      target: t,
      source: s,
      store,
      watchdog: { ...config.credentials.watchdog! },
      replication: replaySourceOf(config, req.source, config.credentials.replication!),
      signal,
    });
  } finally {
    await Promise.all([t.close(), s.close()]);
  }
}

async function physical(
  config: Config,
  req: InvocationRequest,
  store: ReturnType<typeof openObjectStore>,
  signal: AbortSignal,
) {
  const source = serverById(config, req.source);
  const db = await connectCoordinationDb({
    host: source.host,
    port: source.port,
    ...config.credentials.watchdog!,
  });
  const sessions: ServerAdmin[] = [];
  const connect = (id: ServerId) => async () => {
    const admin = await connectAdmin(config, id);
    sessions.push(admin);
    return admin;
  };
  try {
    return await physicalReseed({
      db,
      openedEpoch: req.openedEpoch ?? 1,
      source: req.source,
      target: req.target,
      commands: new ParentHostCommands(),
      store,
      key: req.key ?? 'bench/backup.xb.gz',
      connectSource: connect(req.source),
      connectTarget: connect(req.target),
      beforeRestore: async () => {},
      signal,
      pollMs: req.pollMs ?? 1_000,
      log: (message, extra) => {
        const line =
          message.endsWith('progress') && typeof extra?.line === 'string'
            ? extra.line
            : `${message} ${JSON.stringify(extra ?? {})}`;
        process.stderr.write(`  ${line}\n`);
      },
    });
  } finally {
    await Promise.all([db.close(), ...sessions.map((a) => a.close())]);
  }
}

const t0 = performance.now();
const req = JSON.parse(process.argv[2] ?? '{}') as InvocationRequest;
const own = new AbortController();
const timer =
  req.deadlineMs !== undefined
    ? setTimeout(() => own.abort(new Error('deadline')), req.deadlineMs)
    : undefined;
let outcome: Pick<InvocationOutcome, 'ok' | 'stopped' | 'detail'>;
try {
  const config = parseConfig(req.config, 'bench');
  const store = openObjectStore(req.storeUrl, req.storeOptions);
  const result: StepResult = await (req.kind === 'physical' ? physical : logical)(
    config,
    req,
    store,
    own.signal,
  );
  outcome = { ok: true, stopped: false, detail: result.detail };
} catch (error) {
  outcome = { ok: false, stopped: own.signal.aborted, detail: errorMessage(error) };
} finally {
  clearTimeout(timer);
}
sample();
const line: InvocationOutcome = {
  ...outcome,
  ms: Math.round(performance.now() - t0),
  memory: {
    maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    rss: mib(peaks.rss),
    heapUsed: mib(peaks.heapUsed),
    heapTotal: mib(peaks.heapTotal),
    external: mib(peaks.external),
    arrayBuffers: mib(peaks.arrayBuffers),
  },
};
// Exit once the line is written whole: what an aborted run left behind (sockets, timers) must not keep
// the process alive, as Lambda ends (or freezes) an invocation at its deadline.
process.stdout.write(`${JSON.stringify(line)}\n`, () => process.exit(outcome.ok ? 0 : 1));
