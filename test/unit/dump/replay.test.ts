import { describe, expect, it } from 'vitest';
import { Flavor } from '../../../functions/cluster/flavor.js';
import type { Conn } from '../../../functions/dump/connection.js';
import { replayIdempotentlyUntil } from '../../../functions/dump/replay.js';

const mariadb = Flavor.detect('10.11.18-MariaDB-0+deb12u1-log', 'Debian 12');
const source = { host: '127.0.0.1', port: 3306, user: 'repl', password: 'x' };

/**
 * A replica as the catch-up sees it, statement by statement: the applier's positions in the order the
 * catch-up reads them, and whether SHOW SLAVE STATUS says the applier runs.
 */
function scriptedReplica(
  positions: string[],
  sqlRunning: () => string,
): { conn: Conn; statements: string[] } {
  const statements: string[] = [];
  let read = 0;
  const query = async (sql: string): Promise<[unknown]> => {
    statements.push(sql);
    if (sql.startsWith('SELECT @@global.gtid_binlog_pos')) {
      const pos = positions[Math.min(read++, positions.length - 1)];
      return [[{ slave_pos: pos }]];
    }
    if (sql === 'SHOW SLAVE STATUS') {
      return [
        [
          {
            Master_Host: '127.0.0.1',
            Slave_IO_Running: 'No',
            Slave_SQL_Running: sqlRunning(),
            Last_SQL_Errno: 0,
            Last_IO_Errno: 0,
          },
        ],
      ];
    }
    return [[]];
  };
  const conn = { p: { query }, raw: {}, close: async () => {}, destroy: () => {} } as unknown as Conn;
  return { conn, statements };
}

describe('the idempotent catch-up of a dump read at several positions', () => {
  it('finishes when the applier stopped at the position between the read of its position and of its status', async () => {
    // Read 1: 0-1-588 (not there yet); then the applier applies 0-1-589 and stops by itself (UNTIL),
    // so the status read that follows says it is not running.
    const { conn, statements } = scriptedReplica(['0-1-588', '0-1-589'], () => 'No');
    const r = await replayIdempotentlyUntil(conn, mariadb, source, '0-1-589');
    expect(r.position).toBe('0-1-589');
    expect(statements).toContain("SET GLOBAL slave_exec_mode = 'STRICT'");
  });

  it('fails when the applier stopped before the position', async () => {
    const { conn } = scriptedReplica(['0-1-588'], () => 'No');
    await expect(replayIdempotentlyUntil(conn, mariadb, source, '0-1-589')).rejects.toThrow(
      /stopped at 0-1-588, before 0-1-589/,
    );
  });
});
