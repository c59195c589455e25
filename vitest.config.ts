import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Each test file starts its own redis-server on a free port, so files may run in parallel.
    pool: 'forks',
    fileParallelism: true,
    // Two files at a time: vitest's default ran one at a time on a 2-core
    // machine (the whole suite 428 s), while most files wait on timers and
    // sockets rather than the CPU (two at a time: 235 s, the same tests passing).
    maxWorkers: 2,
  },
});
