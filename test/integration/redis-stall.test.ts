/**
 * A stalled Redis (SIGSTOP: it holds its connections and never answers) must not hang the API
 * (R-OPS-3): every Redis-backed request and /readyz answer 503 within 2 s, the outage is logged
 * once at warn without a stack, the service is ready again by itself when Redis resumes, and a
 * debit answered 503 is safe to retry with its key (R-CON-5): applied once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { type EmbeddedRedis, startEmbeddedRedis } from '../../src/redis/embedded-server.js';
import { PLATFORM, startTestApi, type TestApi } from '../support/http.js';
import { onCluster } from '../support/redis.js';
import { event, paidCheckoutSession, sign } from '../support/stripe.js';

const dir = mkdtempSync(join(tmpdir(), 'burnrate-stall-'));
let redis: EmbeddedRedis;
let api: TestApi;
const lines: { level: number; msg: string; stack?: unknown; err?: unknown }[] = [];

// One redis-server of its own, SIGSTOPped: the single-node leg runs it; the cluster leg skips it
// (a stalled cluster node is a failover's business, not this test's).
beforeAll(async () => {
  if (onCluster) return;
  redis = await startEmbeddedRedis({ dir, appendOnly: false });
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  api = await startTestApi({
    target: { url: redis.url },
    log: createLogger({ level: 'debug', name: 'stall', destination }),
  });
});
afterAll(async () => {
  if (onCluster) return;
  process.kill(redis.pid, 'SIGCONT');
  await api.close().catch(() => {});
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function timed<T>(f: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await f();
  return { value, ms: performance.now() - t0 };
}

const spend = (key: string) =>
  api.call('POST', '/v1/workspaces/stalled/usage', {
    key: PLATFORM,
    body: { idempotencyKey: key, credits: 5 },
  });

it.skipIf(onCluster)(
  'answers 503 within 2 s while Redis is stalled, logs it once, recovers by itself, and a retried debit applies once',
  async () => {
    expect((await api.call('PUT', '/v1/workspaces/stalled', { body: { planId: 'growth' } })).status).toBe(
      201,
    );
    expect((await spend('before')).status).toBe(200);
    lines.length = 0;

    process.kill(redis.pid, 'SIGSTOP');
    const debit = await timed(() => spend('during'));
    expect(debit.value.status).toBe(503);
    expect(debit.value.body.error.code).toBe('unavailable');
    expect(debit.ms).toBeLessThan(2000);

    const ready = await timed(() => api.call('GET', '/readyz', { key: null }));
    expect(ready.value.status).toBe(503);
    expect(ready.ms).toBeLessThan(2000);

    const reads = await timed(() =>
      Promise.all([
        api.call('GET', '/v1/workspaces/stalled', { key: PLATFORM }),
        api.call('GET', '/v1/workspaces/stalled/ledger', { key: PLATFORM }),
        api.call('POST', '/v1/workspaces/stalled/authorize', { key: PLATFORM, body: { credits: 1 } }),
      ]),
    );
    expect(reads.value.map((r) => r.status)).toEqual([503, 503, 503]);
    expect(reads.ms).toBeLessThan(2000);

    const payload = JSON.stringify(
      event('checkout.session.completed', paidCheckoutSession({ workspaceId: 'stalled', credits: '10' })),
    );
    const hook = await timed(() =>
      fetch(`${api.base}/webhooks/stripe`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'stripe-signature': sign(payload) },
        body: payload,
      }),
    );
    expect(hook.value.status).toBe(503);
    expect(hook.ms).toBeLessThan(2000);

    process.kill(redis.pid, 'SIGCONT');
    let readyAgain = false;
    for (let i = 0; i < 50 && !readyAgain; i++) {
      readyAgain = (await api.call('GET', '/readyz', { key: null })).status === 200;
      if (!readyAgain) await new Promise((r) => setTimeout(r, 100));
    }
    expect(readyAgain).toBe(true);

    // The stalled debit ran when Redis resumed, or never: either way the retry leaves one debit.
    const retry = await spend('during');
    expect(retry.status).toBe(200);
    const ws = await api.call('GET', '/v1/workspaces/stalled', { key: PLATFORM });
    expect(ws.body.included.remaining).toBe('140');
    const ledger = await api.call('GET', '/v1/workspaces/stalled/ledger?limit=50', { key: PLATFORM });
    const consumed = ledger.body.entries.filter((e: { type: string }) => e.type === 'consume');
    expect(consumed).toHaveLength(2);
    expect(consumed.filter((e: { ref: string }) => e.ref === retry.body.usageId)).toHaveLength(1);

    // R-OPS-3: one warning for the outage, no error line, no stack anywhere; then the recovery.
    await new Promise((r) => setTimeout(r, 700));
    const warned = lines.filter((l) => l.level === 40);
    expect(warned).toHaveLength(1);
    expect(warned[0]?.msg).toMatch(/unreachable/);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
    expect(lines.some((l) => JSON.stringify(l).includes('    at '))).toBe(false);
    expect(lines.some((l) => l.level === 30 && /reachable again/.test(l.msg))).toBe(true);
  },
);

it.skipIf(onCluster)(
  'a client that aborts its upload is one warning, without a stack, and changes nothing',
  async () => {
    lines.length = 0;
    const before = await api.call('GET', '/v1/workspaces/stalled', { key: PLATFORM });
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(new URL(api.base).port), '127.0.0.1', () => {
        socket.write(
          'POST /v1/workspaces/stalled/usage HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n' +
            `authorization: Bearer ${PLATFORM}\r\ncontent-length: 1000\r\n\r\n{"idempotencyKey":"abort","cre`,
        );
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 100);
      });
      socket.on('error', reject);
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
    const warned = lines.filter((l) => l.level === 40);
    expect(warned).toHaveLength(1);
    expect(warned[0]?.msg).toMatch(/aborted/);
    expect(JSON.stringify(warned[0])).not.toContain('    at ');
    const after = await api.call('GET', '/v1/workspaces/stalled', { key: PLATFORM });
    expect(after.body).toEqual(before.body);
  },
);
