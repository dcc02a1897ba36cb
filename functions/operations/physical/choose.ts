/**
 * Which way a server is rebuilt (config `reseed`): pure, so the rule is tested without servers.
 * - `logical`: always the streaming dump through the function.
 * - `physical`: MySQL with CLONE (8.0.17+), MariaDB through the hosts (PhysicalReseed document or the
 *   local script); refused rather than silently downgraded when that cannot run.
 * - `auto`: physical when the source holds more than `physicalAboveGb` and it can run (MariaDB: both
 *   hosts reachable through SSM); logical otherwise. A rebuild already started physically in this
 *   operation stays physical (a continuation never switches method halfway).
 */
import type { ReseedConfig } from '../../config/schema.js';
import { ConfigError } from '../../errors.js';

export type ReseedMethod = 'logical' | 'physical' | 'clone';

export interface MethodFacts {
  config: ReseedConfig;
  mariadb: boolean;
  /** MySQL 8.0.17+ with the clone plugin active on the source and the target. */
  supportsClone: boolean;
  /**
   * The privileges CLONE needs that the watchdog's account does not show ("BACKUP_ADMIN on host:port").
   * `auto` then rebuilds logically; `physical` tries anyway (a privilege held through a role does not
   * show, and the server is the judge).
   */
  cloneMissing?: readonly string[];
  /** Bytes of data and indexes on the source. */
  sourceBytes: number;
  /** Both hosts reachable for the host commands (MariaDB). */
  hostsReachable: boolean;
  /** A physical command is already recorded for this target in this operation. */
  alreadyPhysical: boolean;
}

export function chooseReseedMethod(f: MethodFacts): { method: ReseedMethod; reason: string } {
  const physical: ReseedMethod = f.mariadb ? 'physical' : 'clone';
  if (f.alreadyPhysical) return { method: physical, reason: 'a physical rebuild is already under way' };
  if (f.config.method === 'logical') return { method: 'logical', reason: 'reseed.method is logical' };
  const gb = f.sourceBytes / 1e9;
  const possible = f.mariadb ? f.hostsReachable : f.supportsClone;
  const why = f.mariadb
    ? 'the database hosts are not reachable for the physical reseed (reseed.hosts / SSM agent)'
    : 'CLONE needs MySQL 8.0.17 or later with the clone plugin active on both servers';
  if (f.config.method === 'physical') {
    if (!possible) throw new ConfigError(`reseed.method is physical but ${why}`);
    return { method: physical, reason: 'reseed.method is physical' };
  }
  if (gb <= f.config.physicalAboveGb)
    return {
      method: 'logical',
      reason: `${gb.toFixed(2)} GB is not above reseed.physicalAboveGb (${f.config.physicalAboveGb})`,
    };
  if (!possible) return { method: 'logical', reason: `${gb.toFixed(2)} GB, but ${why}` };
  if (!f.mariadb && f.cloneMissing?.length)
    return {
      method: 'logical',
      reason: `${gb.toFixed(2)} GB, but the watchdog lacks ${f.cloneMissing.join(', ')} for CLONE`,
    };
  return {
    method: physical,
    reason: `${gb.toFixed(2)} GB is above reseed.physicalAboveGb (${f.config.physicalAboveGb})`,
  };
}
