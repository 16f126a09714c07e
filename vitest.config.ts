import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // End-to-end files start real servers and kernels: one file at a time on 2 cores.
    fileParallelism: false,
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // expect.poll waits on a condition (a frame's height, a page's rows); 1 s, vitest's
    // default, is too short for Chromium on a loaded 2-core machine.
    expect: { poll: { timeout: 15_000 } },
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], globalSetup: ['test/e2e/global-setup.ts'] },
      },
      // A real Temporal cluster on PostgreSQL: only when asked (`npm run test:deploy`).
      ...(process.env['MILLRACE_DEPLOY_TESTS'] === '1'
        ? [{ extends: true as const, test: { name: 'deploy', include: ['test/deploy/**/*.test.ts'], testTimeout: 300_000 } }]
        : []),
    ],
  },
});
