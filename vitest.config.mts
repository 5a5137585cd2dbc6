import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Each test file gets its own process (Temporal's native bridge and worker threads do not share well),
    // its own database cloned from a migrated template, and its own Temporal server.
    pool: 'forks',
    maxWorkers: 2,
    globalSetup: ['test/support/global-setup.ts'],
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
