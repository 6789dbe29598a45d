/**
 * The environment, parsed once by zod at start (R-OPS-2). This module is the only reader of
 * process.env; everything else receives a typed Config.
 */
import { isIP } from 'node:net';
import { z } from 'zod';

/** A request's Redis command that has not answered after this long fails (503). */
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 1000;

/**
 * TRUST_PROXY, as Express's `trust proxy` takes it: `true` (any), `false`, a number of hops, or
 * a comma list of addresses, CIDR ranges and the names loopback, linklocal, uniquelocal.
 */
const trustProxy = z.preprocess(
  (v) => (v === '' ? undefined : v),
  z
    .string()
    .optional()
    .transform((s, ctx): boolean | number | string[] => {
      if (s === undefined || s === 'false') return false;
      if (s === 'true') return true;
      if (/^\d{1,2}$/.test(s)) return Number(s);
      const list = s
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean);
      const ok = (p: string) => {
        if (['loopback', 'linklocal', 'uniquelocal'].includes(p)) return true;
        const [addr = '', bits, ...rest] = p.split('/');
        if (rest.length > 0 || isIP(addr) === 0) return false;
        return (
          bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (isIP(addr) === 4 ? 32 : 128))
        );
      };
      if (list.length === 0 || !list.every(ok)) {
        ctx.addIssue({
          code: 'custom',
          message:
            'true, false, a number of proxy hops, or addresses, CIDR ranges and loopback, linklocal, uniquelocal separated by commas',
        });
        return z.NEVER;
      }
      return list;
    }),
);

const DEV_API_KEYS = 'operator:dev-operator-key,platform:dev-platform-key';

const apiKeys = z.string().transform((s, ctx) => {
  const pairs = s
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  const keys: { role: 'platform' | 'operator'; key: string }[] = [];
  for (const p of pairs) {
    const i = p.indexOf(':');
    const role = p.slice(0, i);
    const key = p.slice(i + 1);
    if (i < 0 || (role !== 'platform' && role !== 'operator') || key.length < 8) {
      // The pair itself may be a secret: name its position, never its text.
      ctx.addIssue({
        code: 'custom',
        message: `entry ${keys.length + 1} must be role:key with role platform or operator and a key of 8+ characters`,
      });
      return z.NEVER;
    }
    keys.push({ role, key });
  }
  if (keys.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'needs at least one role:key pair' });
    return z.NEVER;
  }
  return keys;
});

/** A length of time, `30d`, `12h`, `15m` or `90s`, in milliseconds. */
const duration = z
  .string()
  .regex(/^\d{1,7}[dhms]$/, 'a duration such as 7d, 12h, 15m or 90s')
  .transform(
    (s) => Number(s.slice(0, -1)) * { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 }[s.at(-1) as 'd'],
  );

/** `host:port,host:port,…`: a Redis Cluster's seed nodes (any few of its nodes will do). */
const clusterNodes = z.string().transform((s, ctx) => {
  const nodes: { host: string; port: number }[] = [];
  for (const entry of s
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const i = entry.lastIndexOf(':');
    const host = entry.slice(0, i);
    const port = Number(entry.slice(i + 1));
    if (i <= 0 || !/^[A-Za-z0-9.\-_]+$/.test(host) || !Number.isInteger(port) || port < 1 || port > 65_535) {
      ctx.addIssue({ code: 'custom', message: `entry ${nodes.length + 1} must be host:port` });
      return z.NEVER;
    }
    nodes.push({ host, port });
  }
  if (nodes.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'needs at least one host:port' });
    return z.NEVER;
  }
  return nodes;
});

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
  HOST: z.string().default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** One Redis node. Unset (and no REDIS_CLUSTER_NODES): `npm start` runs a private redis-server (AOF on) under DATA_DIR. */
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
  /** A Redis Cluster's seed nodes, `host:port,host:port,…`: every client becomes ioredis' Cluster (R-OPS-4). */
  REDIS_CLUSTER_NODES: z.preprocess((v) => (v === '' ? undefined : v), clusterNodes.optional()),
  /**
   * `npm start` only: run a private Redis Cluster of this many masters (one replica each) under
   * DATA_DIR/cluster instead of one private redis-server. Unset: one node.
   */
  REDIS_CLUSTER: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z.coerce
      .number()
      .int('a whole number of masters')
      .min(3, 'a Redis Cluster needs at least 3 masters')
      .max(16)
      .optional(),
  ),
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_:-]{0,32}$/)
    .default('br:'),
  /**
   * Workers: a Stripe event that moved money (a grant, a renewal, a refund) completes its job
   * only once this many replicas have its writes (WAIT); fewer and the job is retried, so a grant
   * a failover lost is applied again. Unset: 1 on a cluster (REDIS_CLUSTER_NODES), else 0.
   */
  REDIS_GRANT_REPLICAS: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z.coerce.number().int().min(0).max(5).optional(),
  ),
  /**
   * The API: a usage event (consume, record, batch) is answered only once this many replicas
   * have its debit (WAIT); fewer within 400 ms and the answer is 503, and a retry with the same
   * Idempotency-Key replays it (or debits it, if a failover lost it). 0: answered at once, and a
   * failover can lose the last debits it acknowledged (README, "On a Redis Cluster").
   */
  REDIS_WAIT_REPLICAS: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z.coerce.number().int().min(0).max(5).default(0),
  ),
  /**
   * How long a Redis command of a request may take before the request answers 503 (R-OPS-3):
   * a stalled Redis keeps its connections open, and without a limit a request would wait as
   * long as the stall.
   */
  REDIS_COMMAND_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(50)
    .max(60_000)
    .default(DEFAULT_REDIS_COMMAND_TIMEOUT_MS),
  DATA_DIR: z.string().default('.data'),
  /**
   * PostgreSQL, where the ledger is kept for good (R-CON-7). Unset: `npm start` serves a private
   * PGlite under DATA_DIR/pg; the API and worker then need it set (npm start sets it for them).
   */
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'a postgres:// or postgresql:// URL')
    .optional(),
  /** The PostgreSQL schema of burnrate's tables. */
  DATABASE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case SQL identifier')
    .default('public'),
  /**
   * How long archived ledger entries stay in Redis as well: `<n>d`, `<n>h`, `<n>m` or `<n>s`.
   * An entry not yet in PostgreSQL stays whatever its age.
   */
  LEDGER_REDIS_RETENTION: duration.default(7 * 24 * 3600 * 1000),
  /**
   * How long the usage view's day totals stay in Redis (R-USE-1); older days are summed from
   * the archived ledger in PostgreSQL. At least 36 days: late usage changes a day for 35.
   */
  USAGE_REDIS_RETENTION: duration
    .refine((ms) => ms >= 36 * 86_400_000, 'at least 36d: late usage changes a day for 35 days')
    .default(90 * 86_400_000),
  /** Workers: how often the archiver copies new ledger entries to PostgreSQL. */
  ARCHIVE_EVERY_MS: z.coerce.number().int().min(100).default(2000),
  /** An alert (and /readyz's archive block says so) when the oldest unarchived entry is older. */
  ARCHIVE_LAG_ALERT_SECONDS: z.coerce.number().int().min(1).default(300),
  BURNRATE_API_KEYS: apiKeys.optional(),
  CATALOG_PATH: z.string().default('catalog/catalog.example.json'),
  /**
   * The idempotency window (R-CON-5): how long a usage key answers with its first reply, at least
   * (until the end of its UTC day plus this, at most). 24 hours, as Stripe keeps its keys; late
   * usage older than it replays from PostgreSQL (issue 10 §2).
   */
  IDEMPOTENCY_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(3600)
    .default(24 * 3600),
  /** Workers: how often the cycle sweep writes the roll of idle workspaces to their ledgers. */
  CYCLE_SWEEP_EVERY_MS: z.coerce.number().int().min(1000).default(3_600_000),
  /**
   * Workers: how long a job's lock lasts, and how often stalled jobs (their worker died) are
   * taken back; a killed worker's job runs again after about this long.
   */
  WORKER_LOCK_MS: z.coerce.number().int().min(500).default(30_000),
  /**
   * Workers: how long a graceful stop (SIGTERM) may wait for the running jobs and the queues'
   * connections; past it the process exits anyway, and its jobs run again elsewhere after
   * WORKER_LOCK_MS (each step is idempotent). A stalled Redis must not keep a worker for ever.
   */
  WORKER_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(100).default(60_000),
  /**
   * Workers: the process's CPU priority, as `nice -n` (0 leaves it; 19 is the lowest). A worker's
   * work is background work (the archive's copy, sweeps, Stripe's events, invoicing): where it
   * shares a host's cores with the API (`npm start`, a small machine), the debits come first and
   * the worker takes what they leave. Where the worker has cores of its own, it changes nothing.
   * Under WORKER_CPU_POLICY=idle the kernel ignores it until the worker leaves that policy.
   */
  WORKER_NICE: z.coerce.number().int().min(0).max(19).default(10),
  /**
   * Workers: Linux's CPU policy for every thread (runtime.ts setCpuPolicy). `idle` (the default):
   * the worker weighs next to nothing, and the API and Redis take a core back the moment they
   * wake. That kept the debits at 0.93 of their rate alone with the archive copying on the same
   * two cores, against 0.885 under `batch` (bench:memory, README; medians of eleven runs). While
   * the archive lags past a tenth of ARCHIVE_LAG_ALERT_SECONDS, the worker takes `batch` where
   * the system lets it (workers/cpu-policy.ts, maintenance.ts), and goes back once caught up.
   * `batch`: the worker keeps its WORKER_NICE share but its wakeups never preempt. `normal`: the
   * policy is left as it is.
   */
  WORKER_CPU_POLICY: z.enum(['idle', 'batch', 'normal']).default('idle'),
  /** Stripe's API key; with neither it nor STRIPE_API_BASE, `npm start` runs the local stand-in. */
  STRIPE_SECRET_KEY: z
    .string()
    .regex(/^(sk|rk)_/, 'a Stripe secret key (sk_… or rk_…)')
    .optional(),
  /** Points the Stripe SDK elsewhere, e.g. the stand-in at http://127.0.0.1:12111. */
  STRIPE_API_BASE: z.url({ protocol: /^https?$/ }).optional(),
  /**
   * Calls to Stripe per second, for every process and caller together (one rate bucket in
   * Redis). Unset: 100 with a live key (Stripe's live-mode limit), else 25 (test mode). 0 lifts
   * the throttle (benchmarks on the stand-in).
   */
  STRIPE_REQUESTS_PER_SECOND: z
    .string()
    .regex(/^\d+$/, 'a whole number of requests per second (0: unthrottled)')
    .transform(Number)
    .pipe(z.number().max(10_000))
    .optional(),
  STRIPE_STANDIN_PORT: z.coerce.number().int().min(0).max(65_535).default(12_111),
  /** The stand-in answers 429 above this many requests a second, as Stripe does; unset: no limit. */
  STRIPE_STANDIN_RATE_LIMIT: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z.coerce.number().int('a whole number of requests per second').min(1).optional(),
  ),
  /** Where `npm run stripe:standin` sends events; default the API on PORT. */
  STRIPE_STANDIN_WEBHOOK_URL: z.url().optional(),
  /** Receivers of the outbound alert webhooks (R-ALR-2): comma-separated http(s) URLs. */
  BURNRATE_ALERT_WEBHOOK_URLS: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((u) => u.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.url({ protocol: /^https?$/ })))
    .optional(),
  /** Signs the outbound alert webhooks (HMAC-SHA256, Stripe's scheme). */
  BURNRATE_ALERT_WEBHOOK_SECRET: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z.string().min(16, 'at least 16 characters').optional(),
  ),
  /** Workers: how often alerts the API could not queue (it crashed, Redis blinked) are queued. */
  ALERT_SWEEP_EVERY_MS: z.coerce.number().int().min(1000).default(60_000),
  /** Verifies Stripe's webhook signatures; without it /webhooks/stripe answers 503. */
  STRIPE_WEBHOOK_SECRET: z.string().startsWith('whsec_').optional(),
  /**
   * Signs the billing page's links (issue 11 §1). Unset: a random secret made once and kept in
   * Redis, so every API process shares it.
   */
  BILLING_SECRET: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z.string().min(32, 'at least 32 characters').optional(),
  ),
  /** How long a billing page link may wait to be opened (it opens once). */
  BILLING_LINK_TTL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(900),
  /** How long a billing page session lasts once its link was opened. */
  BILLING_SESSION_TTL_SECONDS: z.coerce.number().int().min(60).max(86_400).default(3600),
  /** The API's public base URL, for the billing page's links; unset: the request's own host. */
  PUBLIC_URL: z.preprocess((v) => (v === '' ? undefined : v), z.url({ protocol: /^https?$/ }).optional()),
  /**
   * Which proxies in front of the API to believe (Express's `trust proxy`): their
   * X-Forwarded-Proto and X-Forwarded-Host then make the billing page's cookie Secure and its
   * links' base when PUBLIC_URL is unset. Unset: none, the connection as it is.
   */
  TRUST_PROXY: trustProxy,
});

export type Role = 'platform' | 'operator';

export interface Config {
  env: 'development' | 'production' | 'test';
  port: number;
  host: string;
  /** TRUST_PROXY: the whole app's Express `trust proxy` (req.protocol, req.host and req.ip). */
  trustProxy: boolean | number | string[];
  logLevel: string;
  /** One Redis node; at most one of redisUrl and redisClusterNodes is set. */
  redisUrl: string | undefined;
  /** A Redis Cluster's seed nodes. */
  redisClusterNodes: { host: string; port: number }[] | undefined;
  /** `npm start`: masters of the private cluster to run (REDIS_CLUSTER); undefined: one private node. */
  embeddedClusterMasters: number | undefined;
  redisPrefix: string;
  redisCommandTimeoutMs: number;
  /** Replicas a Stripe event's writes must reach before its job completes (REDIS_GRANT_REPLICAS). */
  grantReplicas: number;
  /** Replicas a debit must reach before it is answered (REDIS_WAIT_REPLICAS). */
  waitReplicas: number;
  dataDir: string;
  /** PostgreSQL (DATABASE_URL); undefined: none configured. */
  database: { url: string; schema: string } | undefined;
  archive: {
    /** How long archived entries stay in Redis too (ms). */
    redisRetentionMs: number;
    /** How long the usage view's day totals stay in Redis (ms). */
    usageRedisRetentionMs: number;
    everyMs: number;
    lagAlertSeconds: number;
  };
  apiKeys: { role: Role; key: string }[];
  /** True when no BURNRATE_API_KEYS was given and the development keys are in force. */
  devApiKeys: boolean;
  catalogPath: string;
  idempotencyTtlSeconds: number;
  cycleSweepEveryMs: number;
  stripeWebhookSecret: string | undefined;
  workerLockMs: number;
  workerShutdownGraceMs: number;
  /** WORKER_NICE: the worker process's nice value (0 leaves it). */
  workerNice: number;
  /** WORKER_CPU_POLICY: Linux's CPU policy for the worker's threads (`normal` leaves it). */
  workerCpuPolicy: 'idle' | 'batch' | 'normal';
  alerts: {
    webhookUrls: string[];
    webhookSecret: string | undefined;
    sweepEveryMs: number;
  };
  stripe: {
    secretKey: string | undefined;
    apiBase: string | undefined;
    requestsPerSecond: number;
    standinPort: number;
    /** Requests a second above which the stand-in answers 429; undefined: no limit. */
    standinRateLimit: number | undefined;
    standinWebhookUrl: string | undefined;
  };
  /** The hosted billing page (issue 11 §1). */
  billing: {
    secret: string | undefined;
    linkTtlSeconds: number;
    sessionTtlSeconds: number;
    publicUrl: string | undefined;
  };
}

export class ConfigError extends Error {}

/** A failed parse of the environment as one message naming each bad variable, never its value. */
export function invalidConfig(error: z.ZodError): ConfigError {
  const lines = error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
  return new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) throw invalidConfig(parsed.error);
  const e = parsed.data;
  if (!e.BURNRATE_API_KEYS && e.NODE_ENV === 'production') {
    throw new ConfigError('invalid configuration:\n  BURNRATE_API_KEYS: required when NODE_ENV=production');
  }
  if (e.REDIS_URL && e.REDIS_CLUSTER_NODES) {
    throw new ConfigError(
      'invalid configuration:\n  REDIS_CLUSTER_NODES: set either REDIS_URL (one node) or REDIS_CLUSTER_NODES (a cluster), not both',
    );
  }
  if (e.REDIS_CLUSTER !== undefined && (e.REDIS_URL || e.REDIS_CLUSTER_NODES)) {
    throw new ConfigError(
      'invalid configuration:\n  REDIS_CLUSTER: starts a private cluster, so it takes neither REDIS_URL nor REDIS_CLUSTER_NODES',
    );
  }
  if (e.BURNRATE_ALERT_WEBHOOK_URLS?.length && !e.BURNRATE_ALERT_WEBHOOK_SECRET) {
    throw new ConfigError(
      'invalid configuration:\n  BURNRATE_ALERT_WEBHOOK_SECRET: required when BURNRATE_ALERT_WEBHOOK_URLS is set',
    );
  }
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    trustProxy: e.TRUST_PROXY,
    logLevel: e.LOG_LEVEL,
    redisUrl: e.REDIS_URL,
    redisClusterNodes: e.REDIS_CLUSTER_NODES,
    embeddedClusterMasters: e.REDIS_CLUSTER,
    redisPrefix: e.REDIS_PREFIX,
    redisCommandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
    grantReplicas: e.REDIS_GRANT_REPLICAS ?? (e.REDIS_CLUSTER_NODES ? 1 : 0),
    waitReplicas: e.REDIS_WAIT_REPLICAS,
    dataDir: e.DATA_DIR,
    database: e.DATABASE_URL ? { url: e.DATABASE_URL, schema: e.DATABASE_SCHEMA } : undefined,
    archive: {
      redisRetentionMs: e.LEDGER_REDIS_RETENTION,
      usageRedisRetentionMs: e.USAGE_REDIS_RETENTION,
      everyMs: e.ARCHIVE_EVERY_MS,
      lagAlertSeconds: e.ARCHIVE_LAG_ALERT_SECONDS,
    },
    apiKeys: e.BURNRATE_API_KEYS ?? (apiKeys.parse(DEV_API_KEYS) as { role: Role; key: string }[]),
    devApiKeys: !e.BURNRATE_API_KEYS,
    catalogPath: e.CATALOG_PATH,
    idempotencyTtlSeconds: e.IDEMPOTENCY_TTL_SECONDS,
    cycleSweepEveryMs: e.CYCLE_SWEEP_EVERY_MS,
    stripeWebhookSecret: e.STRIPE_WEBHOOK_SECRET,
    workerLockMs: e.WORKER_LOCK_MS,
    workerShutdownGraceMs: e.WORKER_SHUTDOWN_GRACE_MS,
    workerNice: e.WORKER_NICE,
    workerCpuPolicy: e.WORKER_CPU_POLICY,
    alerts: {
      webhookUrls: e.BURNRATE_ALERT_WEBHOOK_URLS ?? [],
      webhookSecret: e.BURNRATE_ALERT_WEBHOOK_SECRET,
      sweepEveryMs: e.ALERT_SWEEP_EVERY_MS,
    },
    stripe: {
      secretKey: e.STRIPE_SECRET_KEY,
      apiBase: e.STRIPE_API_BASE,
      requestsPerSecond:
        e.STRIPE_REQUESTS_PER_SECOND ?? (/^[sr]k_live_/.test(e.STRIPE_SECRET_KEY ?? '') ? 100 : 25),
      standinPort: e.STRIPE_STANDIN_PORT,
      standinRateLimit: e.STRIPE_STANDIN_RATE_LIMIT,
      standinWebhookUrl: e.STRIPE_STANDIN_WEBHOOK_URL,
    },
    billing: {
      secret: e.BILLING_SECRET,
      linkTtlSeconds: e.BILLING_LINK_TTL_SECONDS,
      sessionTtlSeconds: e.BILLING_SESSION_TTL_SECONDS,
      publicUrl: e.PUBLIC_URL,
    },
  };
}

/** The environment as a child process inherits it (`npm start` runs the API and the worker). */
export function inheritedEnv(): NodeJS.ProcessEnv {
  return { ...process.env };
}
