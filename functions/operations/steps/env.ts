/**
 * What a step handler is given. Each handler reads its step alone (core/planner.ts says what each
 * kind carries); the run's context is the same for every step of an operation.
 */
import type { Config } from '../../config/schema.js';
import type { OperationName, Step, StepKind } from '../../core/planner.js';
import type { ServerId, Snapshot } from '../../core/snapshot.js';
import type { CoordinationDb } from '../../election/db.js';
import type { MasterContext } from '../../election/protocol.js';
import type { AdminPool } from '../admin.js';
import type { ExecuteDeps, OperationResult } from '../execute.js';
import type { StepResult } from '../server-steps.js';

/** One participant's run: what its router work needs, master or follower. */
export interface RunEnv {
  config: Config;
  /** The groups whose routers this participant switches (its own). */
  groups: string[];
  deps: ExecuteDeps;
  /** The observation the plan was made from. */
  snapshot: Snapshot;
  /** The run's report: handlers add salvage records, checksums, warnings, reseed progress. */
  result: OperationResult;
  pool: AdminPool;
  /** The coordination schema's connection (journal, fenced servers). */
  db: CoordinationDb;
  cred: { user: string; password: string };
  /** The server that holds the election (MySQL: kept writable for the watchdog while it runs). */
  coordinationId: ServerId;
  log: (message: string, extra?: Record<string, unknown>) => void;
}

/** The operation master's run: its epoch and the operation the steps belong to. */
export interface StepEnv extends RunEnv {
  ctx: MasterContext;
  operation: OperationName;
}

export type StepOf<K extends StepKind> = Extract<Step, { kind: K }>;
export type StepHandler<K extends StepKind> = (step: StepOf<K>, env: StepEnv) => Promise<StepResult>;
/** One handler per step kind: a step kind without a handler does not compile. */
export type StepHandlers = { [K in StepKind]: StepHandler<K> };
