import { defineConfig } from 'vitest/config';
// @ts-expect-error plain ESM module without types
import { ensureNode22 } from './bin/node22.mjs';

// The tests run on Node 22, as the function does in Lambda: `npx vitest` started from a shell whose node
// is older runs itself again under Node 22 (the machine's, or the one `npm run setup` put in .node/).
await ensureNode22();

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real servers: integration tests start MariaDB and HAProxy; give them room, never share ports.
    // The limits are for a 2-core machine shared with other suites (load average 50+ seen): a test
    // that passes in 30 s when idle took 100 s there. A limit is never what a test waits for.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // One fresh worker per file, chosen rather than defaulted (vitest 5 suggests isolate: false to save
    // worker start-ups): test files mock the AWS SDK clients (aws-sdk-client-mock patches their
    // prototypes), keep cached configuration in module state and install exit and signal hooks for the
    // clusters they start; none of that may leak into the next file.
    isolate: true,
    // Two cores: more than two files starting clusters at once only makes every test slower.
    maxWorkers: 2,
    globalSetup: ['test/harness/global-setup.ts'],
  },
});
