import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Each test file starts its own redis-server on a free port, so files may run in parallel.
    pool: 'forks',
    fileParallelism: true,
    // Three files at a time: vitest's default ran one at a time on a 2-core
    // machine (the whole suite 428 s), while most files wait on timers and
    // sockets rather than the CPU (two at a time: 235 s, the same tests
    // passing). As the suite grew, two at a time took 351 s on the AMD VM
    // with 1.17 cores busy on average; three took 285 s with 1.54.
    maxWorkers: 3,
  },
});
