/**
 * A private redis-server child: the embedded default of `npm start` (with AOF, data in a
 * folder of the project) and the server every test run starts for itself.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

export interface EmbeddedRedis {
  url: string;
  port: number;
  /** The redis-server's pid (tests stall it with SIGSTOP, or kill it). */
  pid: number;
  stop(): Promise<void>;
}

export class RedisNotInstalledError extends Error {
  constructor() {
    super(
      'redis-server is not installed. Install it (Debian/Ubuntu: `sudo apt-get install -y redis-server`, ' +
        'macOS: `brew install redis`) or point burnrate at a Redis of yours with REDIS_URL=redis://host:6379.',
    );
  }
}

export function redisServerInstalled(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** A port that was free a moment ago (redis-server's --port 0 turns TCP off instead). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPing(url: string, child: ChildProcess, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return;
    } catch {
      // not up yet
    } finally {
      probe.disconnect();
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('redis-server did not answer PING in time');
}

/** `port`: a given port (a restart where the clients expect it), else a free one. */
export async function startEmbeddedRedis(opts: {
  dir: string;
  appendOnly: boolean;
  port?: number;
}): Promise<EmbeddedRedis> {
  if (!redisServerInstalled()) throw new RedisNotInstalledError();
  mkdirSync(opts.dir, { recursive: true });
  for (let attempt = 0; ; attempt++) {
    const port = opts.port ?? (await freePort());
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', opts.dir, '--save', ''];
    args.push('--appendonly', opts.appendOnly ? 'yes' : 'no', '--appendfsync', 'everysec');
    // Its own process group: Ctrl-C reaches the HTTP and worker processes, which finish their
    // in-flight work against this Redis; `npm start` stops it last.
    const child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'inherit'], detached: true });
    const url = `redis://127.0.0.1:${port}`;
    try {
      await waitForPing(url, child, 10_000);
    } catch (err) {
      child.kill('SIGKILL');
      if (attempt < 3 && opts.port === undefined) continue; // the port was taken between the probe and the bind
      throw err;
    }
    return {
      url,
      port,
      pid: child.pid ?? 0,
      stop: () =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    };
  }
}
