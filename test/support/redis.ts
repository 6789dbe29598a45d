/** A client of the run's private Redis (global-setup.ts) with a key prefix no other test uses. */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import { EngineStore } from '../../src/redis/engine-store.js';
import { defineScripts, type ScriptClient } from '../../src/redis/scripts.js';

export interface TestRedis {
  redis: ScriptClient;
  prefix: string;
  store: EngineStore;
  url: string;
  close(): Promise<void>;
}

export function testRedis(): TestRedis {
  const url = inject('redisUrl');
  const redis = defineScripts(new Redis(url, { maxRetriesPerRequest: 1 }));
  const prefix = `t${randomUUID().slice(0, 8)}:`;
  const store = new EngineStore(redis, { prefix, idempotencyTtlSeconds: 3600 });
  return {
    redis,
    prefix,
    store,
    url,
    close: async () => {
      await redis.quit();
    },
  };
}
