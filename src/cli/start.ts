/**
 * `npm start`: the whole service on embedded defaults. Without REDIS_URL it starts a private
 * redis-server (AOF on, data under DATA_DIR, which git ignores) and stops it on exit; then it
 * runs the HTTP process and the worker process as children and stops everything when either
 * ends or on Ctrl-C.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { loadCatalog } from '../config/catalog.js';
import { loadConfig } from '../config/env.js';
import { type EmbeddedRedis, RedisNotInstalledError, startEmbeddedRedis } from '../redis/embedded-server.js';

function say(msg: string) {
  process.stdout.write(`${JSON.stringify({ level: 30, time: Date.now(), name: 'burnrate', msg })}\n`);
}

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
  loadCatalog(config.catalogPath);
} catch (err) {
  process.stderr.write(`burnrate: ${(err as Error).message}\n`);
  process.exit(2);
}

let redis: EmbeddedRedis | undefined;
let redisUrl = config.redisUrl;
if (!redisUrl) {
  const dir = resolve(config.dataDir, 'redis');
  try {
    redis = await startEmbeddedRedis({ dir, appendOnly: true });
  } catch (err) {
    process.stderr.write(`burnrate: ${(err as Error).message}\n`);
    process.exit(err instanceof RedisNotInstalledError ? 3 : 1);
  }
  redisUrl = redis.url;
  say(`started a private redis-server at ${redis.url} (AOF on, data in ${dir})`);
}

const children: ChildProcess[] = [];
for (const entry of ['webhooks/main.ts', 'workers/main.ts']) {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    stdio: 'inherit',
    env: { ...process.env, REDIS_URL: redisUrl },
  });
  children.push(child);
  child.on('exit', (code, signal) => {
    if (!stopping) {
      say(`${entry} exited (${signal ?? code}); stopping the rest`);
      void stop(code ?? 1);
    }
  });
}

let stopping = false;
async function stop(code: number) {
  if (stopping) return;
  stopping = true;
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((done) => {
          if (c.exitCode !== null || c.signalCode !== null) return done();
          c.once('exit', () => done());
          c.kill('SIGTERM');
        }),
    ),
  );
  if (redis) {
    await redis.stop();
    say('stopped the private redis-server');
  }
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
