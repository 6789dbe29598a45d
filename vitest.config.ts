import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts', 'test/browser/build-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // The worker processes the tests start run under the batch CPU policy, not the default idle
    // one: on a CI whose two cores the other test files keep busy, an idle worker would wait on
    // them and time tests out. The policy has its own tests, which ask for idle by name
    // (test/integration/worker-cpu-policy.test.ts, worker-shutdown.test.ts).
    env: { WORKER_CPU_POLICY: process.env.WORKER_CPU_POLICY ?? 'batch' },
  },
});
