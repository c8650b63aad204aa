import { defineConfig } from 'vitest/config';

// One config serves vitest now and the benchmark/demo pages later.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Dawn devices (later issues) need one process per file; forks is the safe pool.
    pool: 'forks',
    testTimeout: 120_000,
  },
});
