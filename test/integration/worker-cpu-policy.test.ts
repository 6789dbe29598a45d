/**
 * WORKER_CPU_POLICY (default idle; issue 10): a worker under the idle policy whose archive lags
 * past ARCHIVE_LAG_ALERT_SECONDS takes the batch policy, so that a host the debits keep busy
 * cannot leave the archive behind for ever; where the system refuses (no CAP_SYS_NICE and no
 * RLIMIT_NICE), the log says what to set. The real worker process (workers/main.ts) against a
 * PostgreSQL that does not answer: the API's grant entry waits in Redis and the lag grows.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/http.js';
import { targetEnv } from '../support/redis.js';

/** SCHED_IDLE and SCHED_BATCH in sched.h. */
const IDLE = 5;
const BATCH = 3;

let api: TestApi;
let child: ChildProcess | undefined;
beforeAll(async () => {
  api = await startTestApi({ now: Date.now() });
});
afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await api.close();
});

/** The policy of each of the process's threads (field 41 of /proc/<pid>/task/<tid>/stat). */
function policies(pid: number): Set<number> {
  return new Set(
    readdirSync(`/proc/${pid}/task`).map((tid) => {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]);
    }),
  );
}

async function until(what: string, done: () => boolean, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (done()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

it.skipIf(process.platform !== 'linux')(
  'an idle worker whose archive lags past the alert takes the batch policy, or says why it cannot',
  async () => {
    expect((await api.call('PUT', '/v1/workspaces/cpu1', { body: { planId: 'growth' } })).status).toBe(201);
    child = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
      env: {
        ...process.env,
        ...targetEnv(api.target),
        REDIS_PREFIX: api.prefix,
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
    // Before the lag: idle on every thread (when the policy was applied at all).
    if (!said('WORKER_CPU_POLICY not applied')) expect(policies(pid)).toEqual(new Set([IDLE]));

    await until('the lag alert', () => said('ARCHIVE_LAG_ALERT_SECONDS'));
    await until('the policy move', () => said('under the batch policy') || said('cannot leave the idle'));
    if (said('under the batch policy')) {
      expect(policies(pid)).toEqual(new Set([BATCH]));
    } else {
      // Refused: the worker stays idle and the operator is told what to set.
      expect(policies(pid)).toEqual(new Set([IDLE]));
      expect(lines.find((l) => l.includes('cannot leave the idle'))).toMatch(/WORKER_CPU_POLICY=batch/);
    }
  },
  60_000,
);
