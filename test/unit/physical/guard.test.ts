import { describe, expect, it } from 'vitest';
import { Flavor } from '../../../functions/cluster/flavor.js';
import { SafetyRefusalError } from '../../../functions/errors.js';
import type { ServerAdmin } from '../../../functions/operations/admin.js';
import { refuseIfReplicatedFrom } from '../../../functions/operations/physical/branch.js';

function admin(rows: Record<string, unknown>[]): ServerAdmin & { sql: string[] } {
  const sql: string[] = [];
  return {
    id: '10.0.0.2:3306',
    server: {} as ServerAdmin['server'],
    flavor: Flavor.detect('10.11.18-MariaDB'),
    sql,
    async query<T>(q: string) {
      sql.push(q);
      return rows as T[];
    },
    async run() {},
    async close() {},
  };
}

describe('the physical restore guard', () => {
  it('refuses to stop and replace a server other servers replicate from', async () => {
    const a = admin([{ Server_id: 3, Host: '10.0.0.3', Port: 3306 }]);
    await expect(refuseIfReplicatedFrom(a)).rejects.toThrow(SafetyRefusalError);
    await expect(refuseIfReplicatedFrom(a)).rejects.toThrow(/server id 3 10\.0\.0\.3:3306/);
    expect(a.sql[0]).toBe('SHOW SLAVE HOSTS');
  });

  it('does not count the reseed source, still registered a while after its replication stopped', async () => {
    const target = admin([{ Server_id: 3, Host: '', Port: 3306 }]);
    const source = admin([{ id: 3 }]);
    await expect(refuseIfReplicatedFrom(target, { notReplicas: [source] })).resolves.toBeUndefined();
  });

  it('lets a server without replicas through', async () => {
    await expect(refuseIfReplicatedFrom(admin([]))).resolves.toBeUndefined();
  });
});
