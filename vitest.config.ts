import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real servers: integration tests start MariaDB and HAProxy; give them room, never share ports.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // Two cores: more than two files starting clusters at once only makes every test slower.
    maxWorkers: 2,
    globalSetup: ['test/harness/global-setup.ts'],
  },
});
