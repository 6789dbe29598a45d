/** R-OPS-2: the environment is validated at start with a clear message, and no secret is echoed. */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';

describe('R-OPS-2 config from the environment', () => {
  it('has embedded defaults and development keys outside production', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ port: 3000, redisUrl: undefined, devApiKeys: true });
    expect(c.apiKeys.map((k) => k.role).sort()).toEqual(['operator', 'platform']);
  });

  it('parses role:key pairs', () => {
    const c = loadConfig({ BURNRATE_API_KEYS: 'platform:abcdefgh1,operator:abcdefgh2' });
    expect(c.apiKeys).toEqual([
      { role: 'platform', key: 'abcdefgh1' },
      { role: 'operator', key: 'abcdefgh2' },
    ]);
    expect(c.devApiKeys).toBe(false);
  });

  it('names the bad variable without printing the secret', () => {
    let message = '';
    try {
      loadConfig({ BURNRATE_API_KEYS: 'admin:supersecretvalue', PORT: 'eighty' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/BURNRATE_API_KEYS/);
    expect(message).toMatch(/PORT/);
    expect(message).not.toContain('supersecretvalue');
  });

  it('requires API keys in production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/BURNRATE_API_KEYS: required/);
  });

  it("TRUST_PROXY is Express's trust proxy for the billing page behind a TLS proxy (issue 11 §1)", () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '' }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8,fd00::/8' }).trustProxy).toEqual([
      'loopback',
      '10.0.0.0/8',
      'fd00::/8',
    ]);
    for (const bad of ['yes', 'proxy.example', '10.0.0.0/33', '10.0.0.1/8/1', ',']) {
      expect(() => loadConfig({ TRUST_PROXY: bad }), bad).toThrow(/TRUST_PROXY: true, false, a number/);
    }
  });

  it('WORKER_NICE: the worker yields the CPU to the API by default, 0 to 19 as nice takes it (R-OPS-2)', () => {
    expect(loadConfig({}).workerNice).toBe(10);
    expect(loadConfig({ WORKER_NICE: '0' }).workerNice).toBe(0);
    expect(loadConfig({ WORKER_NICE: '19' }).workerNice).toBe(19);
    for (const bad of ['20', '-1', '2.5', 'low'])
      expect(() => loadConfig({ WORKER_NICE: bad }), bad).toThrow(/WORKER_NICE/);
  });

  it('WORKER_CPU_POLICY: idle by default, batch or normal as asked, nothing else (R-OPS-2)', () => {
    expect(loadConfig({}).workerCpuPolicy).toBe('idle');
    for (const policy of ['idle', 'batch', 'normal'] as const)
      expect(loadConfig({ WORKER_CPU_POLICY: policy }).workerCpuPolicy).toBe(policy);
    for (const bad of ['IDLE', 'fifo', 'other', ' idle'])
      expect(() => loadConfig({ WORKER_CPU_POLICY: bad }), bad).toThrow(/WORKER_CPU_POLICY/);
  });

  it('refuses a REDIS_URL that is not redis://', () => {
    expect(() => loadConfig({ REDIS_URL: 'http://localhost:6379' })).toThrow(/REDIS_URL/);
  });

  it('takes alert webhook receivers only with a secret to sign them, never echoing it (R-ALR-2)', () => {
    const c = loadConfig({
      BURNRATE_ALERT_WEBHOOK_URLS: 'https://a.example/hook, http://10.0.0.2:8080/b',
      BURNRATE_ALERT_WEBHOOK_SECRET: 'sixteen-chars-or-more',
    });
    expect(c.alerts.webhookUrls).toEqual(['https://a.example/hook', 'http://10.0.0.2:8080/b']);
    expect(() => loadConfig({ BURNRATE_ALERT_WEBHOOK_URLS: 'https://a.example/hook' })).toThrow(
      /BURNRATE_ALERT_WEBHOOK_SECRET: required/,
    );
    expect(() =>
      loadConfig({
        BURNRATE_ALERT_WEBHOOK_URLS: 'ftp://a.example',
        BURNRATE_ALERT_WEBHOOK_SECRET: 'x'.repeat(16),
      }),
    ).toThrow(/BURNRATE_ALERT_WEBHOOK_URLS/);
    let message = '';
    try {
      loadConfig({
        BURNRATE_ALERT_WEBHOOK_URLS: 'https://a.example',
        BURNRATE_ALERT_WEBHOOK_SECRET: 'shortsecret',
      });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/BURNRATE_ALERT_WEBHOOK_SECRET: at least 16/);
    expect(message).not.toContain('shortsecret');
    // docker compose passes unset variables as empty strings: banners only.
    const none = loadConfig({ BURNRATE_ALERT_WEBHOOK_URLS: '', BURNRATE_ALERT_WEBHOOK_SECRET: '' });
    expect(none.alerts).toMatchObject({ webhookUrls: [], webhookSecret: undefined });
  });

  it('takes a Redis Cluster as seed nodes, or one node, never both (R-OPS-2, R-OPS-4)', () => {
    const c = loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000, redis-2:7001,redis-3.internal:7002' });
    expect(c.redisClusterNodes).toEqual([
      { host: '10.0.0.1', port: 7000 },
      { host: 'redis-2', port: 7001 },
      { host: 'redis-3.internal', port: 7002 },
    ]);
    expect(c.redisUrl).toBeUndefined();
    expect(loadConfig({}).redisClusterNodes).toBeUndefined();
    // docker compose passes unset variables as empty strings.
    expect(loadConfig({ REDIS_CLUSTER_NODES: '', REDIS_CLUSTER: '' })).toMatchObject({
      redisClusterNodes: undefined,
      embeddedClusterMasters: undefined,
    });
    expect(() =>
      loadConfig({ REDIS_URL: 'redis://localhost:6379', REDIS_CLUSTER_NODES: 'localhost:7000' }),
    ).toThrow(
      /REDIS_CLUSTER_NODES: set either REDIS_URL \(one node\) or REDIS_CLUSTER_NODES \(a cluster\), not both/,
    );
    for (const bad of ['localhost', 'localhost:0', ':7000', 'a:7000,b:seventy', 'a:70000', ' , ']) {
      expect(() => loadConfig({ REDIS_CLUSTER_NODES: bad }), bad).toThrow(/REDIS_CLUSTER_NODES/);
    }
  });

  it('asks npm start for a private cluster of REDIS_CLUSTER masters, alone', () => {
    expect(loadConfig({ REDIS_CLUSTER: '3' }).embeddedClusterMasters).toBe(3);
    expect(loadConfig({}).embeddedClusterMasters).toBeUndefined();
    expect(() => loadConfig({ REDIS_CLUSTER: '2' })).toThrow(
      /REDIS_CLUSTER: a Redis Cluster needs at least 3 masters/,
    );
    expect(() => loadConfig({ REDIS_CLUSTER: 'yes' })).toThrow(/REDIS_CLUSTER/);
    expect(() => loadConfig({ REDIS_CLUSTER: '3', REDIS_URL: 'redis://localhost:6379' })).toThrow(
      /REDIS_CLUSTER: starts a private cluster/,
    );
    expect(() => loadConfig({ REDIS_CLUSTER: '3', REDIS_CLUSTER_NODES: 'localhost:7000' })).toThrow(
      /REDIS_CLUSTER: starts a private cluster/,
    );
  });

  /** The message loadConfig refuses `env` with ('' when it takes it). */
  const refusal = (env: Record<string, string>) => {
    try {
      loadConfig(env);
      return '';
    } catch (err) {
      return (err as Error).message;
    }
  };

  it('R-OPS-2 BILLING_SECRET: at least 32 characters, named and never echoed when short; empty is unset', () => {
    const secret = 'b'.repeat(32);
    expect(loadConfig({ BILLING_SECRET: secret }).billing.secret).toBe(secret);
    expect(loadConfig({}).billing.secret).toBeUndefined();
    // docker compose passes unset variables as empty strings: the secret kept in Redis then.
    expect(loadConfig({ BILLING_SECRET: '' }).billing.secret).toBeUndefined();
    const message = refusal({ BILLING_SECRET: 'short-billing-secret-31-chars!!' });
    expect(message).toMatch(/^invalid configuration:/);
    expect(message).toMatch(/BILLING_SECRET: at least 32 characters/);
    expect(message).not.toContain('short-billing-secret');
  });

  it('R-OPS-2 BILLING_LINK_TTL_SECONDS: whole seconds from 1 to a day (default 15 minutes)', () => {
    expect(loadConfig({}).billing.linkTtlSeconds).toBe(900);
    expect(loadConfig({ BILLING_LINK_TTL_SECONDS: '1' }).billing.linkTtlSeconds).toBe(1);
    expect(loadConfig({ BILLING_LINK_TTL_SECONDS: '86400' }).billing.linkTtlSeconds).toBe(86_400);
    for (const bad of ['0', '-5', '86401', '1.5', 'soon'])
      expect(refusal({ BILLING_LINK_TTL_SECONDS: bad }), bad).toMatch(/^\s+BILLING_LINK_TTL_SECONDS: /m);
  });

  it('R-OPS-2 BILLING_SESSION_TTL_SECONDS: whole seconds from a minute to a day (default an hour)', () => {
    expect(loadConfig({}).billing.sessionTtlSeconds).toBe(3600);
    expect(loadConfig({ BILLING_SESSION_TTL_SECONDS: '60' }).billing.sessionTtlSeconds).toBe(60);
    expect(loadConfig({ BILLING_SESSION_TTL_SECONDS: '86400' }).billing.sessionTtlSeconds).toBe(86_400);
    for (const bad of ['59', '86401', '90.5', 'an hour'])
      expect(refusal({ BILLING_SESSION_TTL_SECONDS: bad }), bad).toMatch(
        /^\s+BILLING_SESSION_TTL_SECONDS: /m,
      );
  });

  it('R-OPS-2 WORKER_SHUTDOWN_GRACE_MS: whole milliseconds from 100 (default a minute)', () => {
    expect(loadConfig({}).workerShutdownGraceMs).toBe(60_000);
    expect(loadConfig({ WORKER_SHUTDOWN_GRACE_MS: '100' }).workerShutdownGraceMs).toBe(100);
    expect(loadConfig({ WORKER_SHUTDOWN_GRACE_MS: '600000' }).workerShutdownGraceMs).toBe(600_000);
    for (const bad of ['99', '0', '-1', '2500.5', 'forever'])
      expect(refusal({ WORKER_SHUTDOWN_GRACE_MS: bad }), bad).toMatch(/^\s+WORKER_SHUTDOWN_GRACE_MS: /m);
  });

  it('R-OPS-2 names every bad billing and worker variable at once, echoing none of their values', () => {
    const message = refusal({
      BILLING_SECRET: 'tiny-secret-XYZ',
      BILLING_LINK_TTL_SECONDS: '0',
      BILLING_SESSION_TTL_SECONDS: '30',
      WORKER_SHUTDOWN_GRACE_MS: '50',
    });
    for (const name of [
      'BILLING_SECRET',
      'BILLING_LINK_TTL_SECONDS',
      'BILLING_SESSION_TTL_SECONDS',
      'WORKER_SHUTDOWN_GRACE_MS',
    ])
      expect(message).toMatch(new RegExp(`^\\s+${name}: `, 'm'));
    expect(message).not.toContain('tiny-secret-XYZ');
  });
});
