import { defineConfig } from 'vitest/config';

/**
 * The tests of the idle CPU policy (WORKER_CPU_POLICY, issue 10). A thread under SCHED_IDLE
 * runs only when no other thread wants the core: in a child process beside 6 busy loops on
 * 2 cores, `setCpuPolicy('idle')` took 79 s to return (24 ms on a quiet machine), and a CI whose
 * other test files keep both cores busy is such a machine. So these files run last, one at a
 * time, once every other file is done (`groupOrder`), on cores the rest of the run no longer holds.
 */
const CPU_POLICY_TESTS = ['test/unit/cpu-priority.test.ts', 'test/integration/worker-cpu-policy.test.ts'];

/** What both projects share. Not by `extends: true`: that would give each the root's globalSetup. */
const shared = {
  testTimeout: 30_000,
  hookTimeout: 30_000,
  pool: 'forks',
  // The worker processes the tests start run under the batch CPU policy, not the default idle
  // one: on a CI whose two cores the other test files keep busy, an idle worker barely runs,
  // and tests that wait on it time out (beside 2 busy loops, scale-out's third test bills its
  // month in 1.6 s with batch workers, and not in 45 s with idle ones). A test that builds its
  // workers' environment itself passes this on. Only the CPU policy's own tests ask for idle.
  env: { WORKER_CPU_POLICY: process.env.WORKER_CPU_POLICY ?? 'batch' },
} as const;

export default defineConfig({
  test: {
    // The root's global setup runs once for the whole run; both projects read what it provides
    // (the private Redis, the PostgreSQL) through inject().
    globalSetup: ['test/support/global-setup.ts', 'test/browser/build-setup.ts'],
    projects: [
      {
        test: {
          ...shared,
          name: 'burnrate',
          include: ['test/**/*.test.ts'],
          exclude: CPU_POLICY_TESTS,
        },
      },
      {
        test: {
          ...shared,
          name: 'cpu-policy',
          include: CPU_POLICY_TESTS,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
