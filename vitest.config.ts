import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Each test file starts its own redis-server on a free port, so files may run in parallel.
    pool: 'forks',
    fileParallelism: true,
  },
});
