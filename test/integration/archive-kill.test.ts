/**
 * R-CON-7 (issue 10): the archiver killed mid-batch re-copies nothing twice and loses nothing.
 * Real worker processes (workers/main.ts, as npm start runs them) archive a backlog of ledger
 * entries into a real PostgreSQL and are SIGKILLed while copying, again and again; a last
 * worker finishes. Afterwards PostgreSQL holds every entry of every ledger exactly once, with
 * the same fields as Redis wrote them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { toLedgerRow } from '../../src/redis/engine-store.js';
import { workspaceKeys } from '../../src/redis/keys.js';
import { type TestDatabase, testDatabase } from '../support/db.js';
import { PLATFORM, startTestApi, type TestApi } from '../support/http.js';
import { targetEnv } from '../support/redis.js';

const WORKSPACES = 40;
const DEBITS_PER_WORKSPACE = 2000;
const KILLS = 4;

let tdb: TestDatabase;
let api: TestApi;
const children: ChildProcess[] = [];
beforeAll(async () => {
  tdb = await testDatabase();
  api = await startTestApi({ now: Date.now(), env: tdb.env });
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await api.close();
  await tdb.close();
});

function startWorker(): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
    env: {
      ...process.env,
      ...targetEnv(api.target),
      ...tdb.env,
      REDIS_PREFIX: api.prefix,
      ARCHIVE_EVERY_MS: '100',
      // A killed worker's archive job is taken back within a second.
      WORKER_LOCK_MS: '1000',
      LOG_LEVEL: 'silent',
    },
    stdio: 'ignore',
  });
  children.push(child);
  return child;
}

const archivedRows = async () =>
  Number(
    (
      await tdb.db
        .selectFrom('ledger_entries')
        .select(sql<string>`count(*)`.as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

async function until(what: string, done: () => Promise<boolean>, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await done()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

it('SIGKILLed workers mid-copy: every entry archived exactly once, as written', async () => {
  const ids = Array.from({ length: WORKSPACES }, (_, i) => `ak${i}`);
  for (const id of ids)
    expect((await api.call('PUT', `/v1/workspaces/${id}`, { body: { planId: 'growth' } })).status).toBe(201);
  // A backlog: batches of 1,000 small debits over every workspace.
  let key = 0;
  for (let b = 0; b < (WORKSPACES * DEBITS_PER_WORKSPACE) / 1000; b++) {
    const events = Array.from({ length: 1000 }, (_, i) => ({
      workspaceId: ids[i % WORKSPACES]!,
      idempotencyKey: `ak-${key++}`,
      credits: 0.01,
    }));
    const res = await api.call('POST', '/v1/usage/batch', { key: PLATFORM, body: { events } });
    expect(res.status).toBe(200);
  }
  // Buffers: a ledger entry is one binary field (src/redis/ledger-codec.ts).
  const streams = new Map<string, [Buffer, Buffer[]][]>();
  for (const id of ids)
    streams.set(id, await api.redis.xrangeBuffer(workspaceKeys(api.prefix, id).ledger, '-', '+'));
  const total = [...streams.values()].reduce((n, s) => n + s.length, 0);
  // A cycle grant and a debit entry each, at least.
  expect(total).toBeGreaterThan(WORKSPACES * DEBITS_PER_WORKSPACE);

  // Kill each worker once it has copied part of the backlog, at a different point each time.
  for (let k = 0; k < KILLS; k++) {
    const before = await archivedRows();
    if (before >= total) break;
    const worker = startWorker();
    await until('a worker copying', async () => (await archivedRows()) > before);
    await new Promise((r) => setTimeout(r, 40 * k));
    worker.kill('SIGKILL');
    await new Promise((r) => worker.once('exit', r));
  }
  expect(await archivedRows()).toBeLessThan(total); // the kills did land mid-backlog
  startWorker();
  await until('the archive to catch up', async () => (await archivedRows()) === total);

  // Exactly once (the stream id is the primary key; counted anyway) and as written.
  const rows = await tdb.db
    .selectFrom('ledger_entries')
    .select(['workspace_id', 'stream_ms', 'stream_seq', 'type', 'kind', 'units', 'ref'])
    .orderBy('workspace_id')
    .orderBy('stream_ms')
    .orderBy('stream_seq')
    .execute();
  expect(rows).toHaveLength(total);
  for (const id of ids) {
    const archived = rows.filter((r) => r.workspace_id === id);
    const written = streams.get(id)!;
    expect(archived.map((r) => `${r.stream_ms}-${r.stream_seq}`)).toEqual(
      written.map(([entryId]) => entryId.toString()),
    );
    expect(archived.map((r) => [r.type, r.kind, Number(r.units), r.ref])).toEqual(
      written.map(toLedgerRow).map((e) => [e.type, e.kind, e.units, e.ref]),
    );
  }
}, 120_000);
