export {
  type CoordinationObservation,
  type CoordinationPick,
  coordinationObservation,
  pickCoordinationServer,
} from './coordination-server.js';
export { type CoordinationDb, type CoordinationEndpoint, connectCoordinationDb } from './db.js';
export {
  ensureSchema,
  type MasterContext,
  type OperationReport,
  type Outcome,
  type Role,
  type RunOperationOptions,
  runOperation,
  type SignalLogEntry,
} from './protocol.js';
export { COORDINATION_SCHEMA, type OperationKind, SIGNALS, type SignalName } from './schema.js';
export { type ElectionStatus, formatElectionStatus, readOperation } from './status.js';
