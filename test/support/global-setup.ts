/**
 * One private redis-server for the whole test run, on a free port, with nothing on disk
 * that outlives the run. Each test file works under its own key prefix (test/support/redis.ts),
 * so files never see each other's data and can run in any order.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startEmbeddedRedis } from '../../src/redis/embedded-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), 'burnrate-test-redis-'));
  const redis = await startEmbeddedRedis({ dir, appendOnly: false });
  project.provide('redisUrl', redis.url);
  return async () => {
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
