/** The pure core: GTID set math, snapshot types, analysis codes and the plan table. No I/O here. */
export {
  ANALYSIS_CODES,
  type Analysis,
  type AnalysisCode,
  type AnalyzeOptions,
  analyze,
  DESCRIPTIONS,
  type ErrantSet,
  ioThreadConfirmsSourceGone,
} from './analysis.js';
export {
  emptyGtidSet,
  type GtidFlavor,
  type GtidSet,
  type MariadbBinlogState,
  MariadbGtidPos,
  MysqlGtidSet,
  parseGtidSet,
  tryParseGtidSet,
} from './gtid.js';
export {
  type OperationName,
  type Plan,
  type PlanContext,
  plan,
  RULES,
  type Severity,
  type Step,
  type StepKind,
} from './planner.js';
export {
  type GtidValue,
  gtidValue,
  hydrateGtid,
  hydrateSnapshot,
  type OperationInfo,
  type ReplicationStatus,
  type RouterObservation,
  type ServerGtid,
  type ServerId,
  type ServerObservation,
  type Snapshot,
  serverTransactions,
  snapshotToJson,
} from './snapshot.js';
