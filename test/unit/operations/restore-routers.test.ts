/**
 * RestoreRouters is the last step of a plan whose work is done: whatever goes wrong in it (the routers,
 * or reading which servers are still fenced) is a warning on a finished operation, never its failure.
 */
import { describe, expect, it } from 'vitest';
import type { OperationResult } from '../../../functions/operations/execute.js';
import type { RunEnv } from '../../../functions/operations/steps/env.js';
import { restoreRouters } from '../../../functions/operations/steps/routers.js';

describe('RestoreRouters', () => {
  it('turns a coordination read that fails (the fenced list) into a warning, not a failed operation', async () => {
    const result = { warnings: [] as string[] } as unknown as OperationResult;
    const env = {
      result,
      db: {
        query: async () => {
          throw new Error('Connection lost: The server closed the connection.');
        },
      },
      log: () => {},
    } as unknown as RunEnv;
    const outcome = await restoreRouters(env, 'db1:3306', 'all');
    expect(outcome.outcome).toBe('skipped');
    expect(outcome.detail).toMatch(/not re-added to the routers: Connection lost/);
    expect(result.warnings).toEqual([outcome.detail]);
  });
});
