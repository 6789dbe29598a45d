/** R-OPS-1: `npm start` on embedded defaults, and what it says when redis-server is missing. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import { waitUntilReady } from '../../src/http/wait-until-ready.js';
import { freePort } from '../../src/redis/embedded-server.js';
import { onCluster } from '../support/redis.js';

const dirs: string[] = [];
/** Started and not yet exited: stopped after the tests even when an assertion failed first. */
const running = new Set<ChildProcess>();
afterAll(async () => {
  await Promise.all(
    [...running].map(async (child) => {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }),
  );
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'burnrate-start-'));
  dirs.push(d);
  return d;
};

function start(env: NodeJS.ProcessEnv) {
  const { REDIS_URL: _unset, ...rest } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/start.ts'], {
    env: { ...rest, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.on('exit', () => running.delete(child));
  let output = '';
  child.stdout.on('data', (b) => {
    output += b;
  });
  child.stderr.on('data', (b) => {
    output += b;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

it('R-OPS-1 says how to get Redis when redis-server is not installed, and exits 3', async () => {
  const s = start({ PATH: tempDir(), DATA_DIR: tempDir() });
  expect(await s.exited).toBe(3);
  expect(s.output()).toMatch(/apt-get install -y redis-server/);
  expect(s.output()).toMatch(/REDIS_URL/);
});

// `npm start`'s embedded default is one redis-server whatever the leg: the cluster leg would
// repeat the single-node leg exactly, so it skips this one.
it.skipIf(onCluster)(
  'R-OPS-1 starts a private Redis with AOF, the API and the worker, and stops them all',
  async () => {
    const port = await freePort();
    const dataDir = tempDir();
    // A short archive pass: the private PostgreSQL's copy of the ledger shows within the test.
    const s = start({ PORT: String(port), DATA_DIR: dataDir, HOST: '127.0.0.1', ARCHIVE_EVERY_MS: '500' });
    const base = `http://127.0.0.1:${port}`;
    const healthy = await waitUntilReady({ base, timeoutMs: 20_000, everyMs: 200 }).then(
      () => true,
      () => false,
    );
    expect(healthy, s.output()).toBe(true);
    // Not 'demo': npm start makes that one itself, with some usage, at a moment of its own.
    const put = await fetch(`${base}/v1/workspaces/start-own`, {
      method: 'PUT',
      headers: { authorization: 'Bearer dev-operator-key', 'content-type': 'application/json' },
      body: JSON.stringify({ planId: 'growth' }),
    });
    expect(put.status).toBe(201);
    expect(existsSync(join(dataDir, 'redis', 'appendonlydir'))).toBe(true);
    // No DATABASE_URL: a private PostgreSQL (PGlite, data in DATA_DIR/pg) gets the ledger.
    const databaseUrl = /postgres:\/\/\S+sslmode=disable/.exec(s.output())?.[0];
    expect(databaseUrl, s.output()).toBeDefined();
    expect(existsSync(join(dataDir, 'pg', 'PG_VERSION'))).toBe(true);
    const db = openDatabase({ url: databaseUrl!, max: 1 });
    try {
      let rows: { ref: string }[] = [];
      // Generous: PGlite's first start (initdb in WebAssembly) takes seconds on a busy machine.
      for (let i = 0; i < 200 && rows.length === 0; i++) {
        rows = await db
          .selectFrom('ledger_entries')
          .select('ref')
          .where('workspace_id', '=', 'start-own')
          .execute()
          .catch(() => []);
        if (rows.length === 0) await new Promise((r) => setTimeout(r, 200));
      }
      expect(
        rows.map((r) => r.ref),
        s.output(),
      ).toEqual([expect.stringMatching(/^cycle:/)]);
      type Ready = { archive?: { lagSeconds: number | null; alert: boolean; error: string | null } };
      // The rows land mid-pass; the pass writes its lag for /readyz when it ends.
      let ready: Ready = {};
      for (let i = 0; i < 100 && ready.archive?.lagSeconds == null; i++) {
        ready = (await (await fetch(`${base}/readyz`)).json()) as Ready;
        if (ready.archive?.lagSeconds == null) await new Promise((r) => setTimeout(r, 200));
      }
      // The lag is how long the copied entries waited for their pass: a second or two here.
      expect(ready.archive).toMatchObject({ alert: false, error: null });
      expect(ready.archive!.lagSeconds).toBeLessThan(60);
    } finally {
      await db.destroy();
    }
    const redisUrl = /redis:\/\/127\.0\.0\.1:\d+/.exec(s.output())?.[0];
    expect(redisUrl).toBeDefined();

    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    const probe = new Redis(redisUrl!, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    probe.on('error', () => {});
    await expect(probe.connect()).rejects.toThrow();
    probe.disconnect();
  },
  60_000,
);
