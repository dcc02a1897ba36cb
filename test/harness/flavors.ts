/**
 * Runs a test suite on both database flavors: MariaDB 10.11 behind HAProxy, and MySQL 9.7 behind real
 * MySQL Router 9.7 (the original script's setup). When MySQL 9.7 is not set up here
 * (scripts/setup-mysql.sh could not fetch it), the MySQL suite reports itself skipped with the reason.
 */
import { describe } from 'vitest';
import type { ClusterFlavor, ClusterOptions } from '../../functions/sandbox/harness/cluster.js';
import { mysqlUnavailableReason } from '../../functions/sandbox/harness/mysql-install.js';

export const MYSQL_SKIP_REASON = mysqlUnavailableReason();

export const FLAVORS: readonly ClusterFlavor[] = ['mariadb', 'mysql'];

/** The cluster options that go with a flavor: MySQL runs behind real MySQL Router unless told otherwise. */
export function flavorClusterOptions(
  flavor: ClusterFlavor,
  routers: ClusterOptions['routers'] = flavor === 'mysql' ? 'mysqlrouter' : 'haproxy',
): Pick<ClusterOptions, 'flavor' | 'routers'> {
  return { flavor, routers };
}

/** `describe` once per flavor ("name [mariadb]", "name [mysql]"). */
export function describeFlavors(
  name: string,
  suite: (flavor: ClusterFlavor) => void,
  flavors: readonly ClusterFlavor[] = FLAVORS,
): void {
  for (const flavor of flavors) {
    if (flavor === 'mysql' && MYSQL_SKIP_REASON !== null) {
      describe.skip(`${name} [mysql] (skipped: ${MYSQL_SKIP_REASON})`, () => suite(flavor));
    } else {
      describe(`${name} [${flavor}]`, () => suite(flavor));
    }
  }
}
