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
});
