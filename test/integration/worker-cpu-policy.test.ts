/**
 * WORKER_CPU_POLICY (default idle; issue 10): a worker under the idle policy whose archive lags
 * past its mark takes the batch policy, so that a host the debits keep busy cannot leave the
 * archive behind for ever; where the system refuses (no CAP_SYS_NICE and no RLIMIT_NICE), the
 * log says what to set. The mark is a tenth of ARCHIVE_LAG_ALERT_SECONDS, at least 10 s and at
 * most the limit: 1 s here, where the limit is 1 s. The real worker process (workers/main.ts)
 * against a PostgreSQL that does not answer: a workspace's grant entry waits in Redis and the
 * lag grows.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { hasChrt, mayLeaveIdle, SCHED, threadPriorities } from '../support/cpu.js';
import { startTestApi, type TestApi } from '../support/http.js';
import { targetEnv } from '../support/redis.js';

let api: TestApi;
let child: ChildProcess | undefined;
beforeAll(async () => {
  api = await startTestApi({ now: Date.now() });
});
afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await api.close();
});

const policies = (pid: number) => new Set(threadPriorities(pid).policies);

async function until(what: string, done: () => boolean, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (done()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

it.skipIf(process.platform !== 'linux' || !hasChrt())(
  'an idle worker whose archive lags past the alert takes the batch policy, or says why it cannot',
  async () => {
    child = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
      env: {
        ...process.env,
        ...targetEnv(api.target),
        REDIS_PREFIX: api.prefix,
        // The production default, named: the test run's own is batch (vitest.config.ts).
        WORKER_CPU_POLICY: 'idle',
        WORKER_NICE: '10',
        // Nothing listens on port 1: every copy fails, the entry stays, its age is the lag.
        DATABASE_URL: 'postgres://burnrate@127.0.0.1:1/none',
        ARCHIVE_EVERY_MS: '200',
        ARCHIVE_LAG_ALERT_SECONDS: '1',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: string[] = [];
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop()!;
      lines.push(...parts);
    });
    const said = (text: string) => lines.some((l) => l.includes(text));
    await until('the worker to run', () => said('burnrate worker running'));
    const pid = child.pid!;
    expect(policies(pid)).toEqual(new Set([SCHED.idle]));
    // Only now a ledger entry (the plan's grant), so the lag starts after the look above.
    expect((await api.call('PUT', '/v1/workspaces/cpu1', { body: { planId: 'growth' } })).status).toBe(201);

    await until('the lag alert', () => said('ARCHIVE_LAG_ALERT_SECONDS'));
    // The worker's threads run at nice 10 (or lower, if the test's own process does).
    const nice = Math.max(...threadPriorities(pid).nices);
    if (mayLeaveIdle(nice)) {
      await until('the move to batch', () => said('runs under the batch CPU policy'));
      expect(policies(pid)).toEqual(new Set([SCHED.batch]));
    } else {
      // Refused: the worker stays idle and the operator is told what to set.
      await until('the refusal', () => said('may not leave the idle CPU policy'));
      expect(policies(pid)).toEqual(new Set([SCHED.idle]));
      expect(lines.find((l) => l.includes('may not leave the idle'))).toMatch(/WORKER_CPU_POLICY=batch/);
    }
  },
  150_000,
);
