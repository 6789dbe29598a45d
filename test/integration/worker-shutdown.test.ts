/**
 * R-OPS-3: a worker process stops on SIGTERM, letting its running job finish, and a Redis that
 * stalls (SIGSTOP: it holds the connections and never answers) cannot keep it for ever: past
 * WORKER_SHUTDOWN_GRACE_MS it exits anyway, and its jobs run again elsewhere once their locks
 * run out. A redis-server of its own; the cluster leg skips it (one node stalls the same way).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type EmbeddedRedis, startEmbeddedRedis } from '../../src/redis/embedded-server.js';
import { threadPriorities } from '../support/cpu.js';
import { onCluster } from '../support/redis.js';

let dir: string;
let redis: EmbeddedRedis;
beforeAll(async () => {
  if (onCluster) return;
  dir = mkdtempSync(join(tmpdir(), 'burnrate-worker-shutdown-'));
  redis = await startEmbeddedRedis({ dir, appendOnly: false });
});
afterAll(async () => {
  if (onCluster) return;
  process.kill(redis.pid, 'SIGCONT');
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** workers/main.ts on the private Redis; resolves once it runs, with its log lines. */
async function startWorker(prefix: string): Promise<{ child: ChildProcess; lines: string[] }> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    REDIS_URL: redis.url,
    REDIS_PREFIX: prefix,
    WORKER_SHUTDOWN_GRACE_MS: '1500',
    LOG_LEVEL: 'info',
  };
  delete env.DATABASE_URL;
  const child = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        if (line.includes('burnrate worker running')) resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`the worker exited (${code}) before it ran`)));
  });
  return { child, lines };
}

it.skipIf(onCluster)(
  'a healthy Redis: SIGTERM stops the worker cleanly; it ran at WORKER_NICE on every thread',
  async () => {
    const { child, lines } = await startWorker('shutdown-ok:');
    // Background work yields the CPU to the API (WORKER_NICE, default 10), V8's threads
    // included. The policy beside it (WORKER_CPU_POLICY) has its own test, worker-cpu-policy.
    if (process.platform === 'linux' && getPriority() < 10) {
      const { nices } = threadPriorities(child.pid!);
      expect(nices.length).toBeGreaterThan(1);
      expect(new Set(nices)).toEqual(new Set([10]));
    }
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
    expect(lines.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
  },
  60_000,
);

it.skipIf(onCluster)(
  'a stalled Redis: SIGTERM still ends the worker, after the grace period',
  async () => {
    const { child, lines } = await startWorker('shutdown-stall:');
    process.kill(redis.pid, 'SIGSTOP');
    try {
      const exited = once(child, 'exit');
      const t0 = Date.now();
      child.kill('SIGTERM');
      const [code] = await exited;
      expect(code).toBe(1);
      // Not before the grace period (the running job may finish), and not much after it.
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(lines.some((l) => l.includes('shutdown did not finish in time'))).toBe(true);
    } finally {
      process.kill(redis.pid, 'SIGCONT');
    }
  },
  60_000,
);
