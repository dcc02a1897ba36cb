/**
 * Where the election lives and what its tables look like. The seed's protocol uses a database named
 * `ongoing_failover` with a table `status`; we keep both names (operators know them) and add the two
 * tables crash safety needs: `operation` (one row while an operation runs: epoch, lease, master) and
 * `history` (every signal of every finished operation, so the audit survives the operation's removal).
 */

/** The coordination schema. Dumps, restores and checksums must skip it (see README "Where it lives"). */
export const COORDINATION_SCHEMA = 'ongoing_failover';

/** The seven signals of the seed protocol, in the order a clean run writes them. */
export const SIGNALS = ['SCAN', 'MAST', 'OPER', 'FOLO', 'TARG', 'FOOK', 'MAOK'] as const;
export type SignalName = (typeof SIGNALS)[number];

export const OPERATIONS = ['fail', 'repl', 'switch'] as const;
export type OperationKind = (typeof OPERATIONS)[number];

/** Longest participant id / signal value we store; longer ids are refused before any write. */
export const MAX_VALUE_LENGTH = 191;

const S = COORDINATION_SCHEMA;
const signalList = SIGNALS.map((s) => `'${s}'`).join(',');

/**
 * DDL, idempotent. `sig`, not `signal`: SIGNAL is a reserved word in MariaDB and MySQL (the SIGNAL
 * statement). TIMESTAMP(6) columns are filled from NOW(6) on the server; the coordination session runs
 * with time_zone '+00:00' so every participant reads the same instants.
 */
export const SCHEMA_STATEMENTS: readonly string[] = [
  `CREATE DATABASE IF NOT EXISTS \`${S}\``,
  // One row (id = 1) while an operation runs; deleted when it is removed. `opened_epoch` names the
  // operation across takeovers (each takeover opens epoch + 1 but keeps opened_epoch).
  `CREATE TABLE IF NOT EXISTS \`${S}\`.operation (
    id TINYINT UNSIGNED NOT NULL PRIMARY KEY,
    epoch BIGINT UNSIGNED NOT NULL,
    opened_epoch BIGINT UNSIGNED NOT NULL,
    op VARCHAR(16) NOT NULL,
    master VARCHAR(${MAX_VALUE_LENGTH}) NULL DEFAULT NULL,
    opened_by VARCHAR(${MAX_VALUE_LENGTH}) NOT NULL,
    opened_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    epoch_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    lease_until TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    CONSTRAINT operation_single_row CHECK (id = 1)
  ) ENGINE=InnoDB`,
  `CREATE TABLE IF NOT EXISTS \`${S}\`.status (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    epoch BIGINT UNSIGNED NOT NULL,
    sig CHAR(4) NOT NULL,
    value VARCHAR(${MAX_VALUE_LENGTH}) NOT NULL,
    participant VARCHAR(${MAX_VALUE_LENGTH}) NOT NULL,
    created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    KEY status_epoch_sig (epoch, sig),
    CONSTRAINT status_sig_known CHECK (sig IN (${signalList}))
  ) ENGINE=InnoDB`,
  `CREATE TABLE IF NOT EXISTS \`${S}\`.history (
    id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    epoch BIGINT UNSIGNED NOT NULL,
    opened_epoch BIGINT UNSIGNED NOT NULL,
    sig CHAR(4) NOT NULL,
    value VARCHAR(${MAX_VALUE_LENGTH}) NOT NULL,
    participant VARCHAR(${MAX_VALUE_LENGTH}) NOT NULL,
    created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    closed_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    closed_by VARCHAR(${MAX_VALUE_LENGTH}) NOT NULL,
    outcome VARCHAR(32) NOT NULL,
    KEY history_epoch (epoch),
    KEY history_opened_epoch (opened_epoch)
  ) ENGINE=InnoDB`,
];

export const TABLES = {
  operation: `\`${S}\`.operation`,
  status: `\`${S}\`.status`,
  history: `\`${S}\`.history`,
} as const;
