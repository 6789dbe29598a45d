/**
 * The two load harnesses of the benchmark (N commands in flight on one Redis client; an
 * autocannon run against the server child) and the CPU meters read around each phase.
 */
import { readFileSync } from 'node:fs';
import autocannon, { type Request } from 'autocannon';
import type { Redis } from 'ioredis';

export interface ScriptRun {
  ops: number;
  failed: number;
  seconds: number;
  firstFailure: string | null;
}

/**
 * Keeps `concurrency` calls of `op` in flight for `seconds`; `op` resolves true when the
 * script answered what it should. Only those count as ops.
 */
export async function runScriptLoad(o: {
  concurrency: number;
  seconds: number;
  op: () => Promise<boolean>;
}): Promise<ScriptRun> {
  let ops = 0;
  let failed = 0;
  let firstFailure: string | null = null;
  const started = performance.now();
  const until = started + o.seconds * 1000;
  const worker = async () => {
    while (performance.now() < until) {
      try {
        if (await o.op()) ops++;
        else {
          failed++;
          firstFailure ??= 'unexpected script reply';
        }
      } catch (err) {
        failed++;
        firstFailure ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  return { ops, failed, seconds: (performance.now() - started) / 1000, firstFailure };
}

export interface HttpRun {
  /** Responses with a 2xx status. */
  ok: number;
  seconds: number;
  p99Ms: number;
  /** Responses with another status, connection errors, timeouts and failed body checks. */
  non2xx: number;
  errors: number;
  timeouts: number;
  mismatches: number;
  statusCounts: Record<string, number>;
  /** The first non-2xx body, to say why. */
  firstRejection: string | null;
}

/** One autocannon run; `next` builds each request (a unique path and body). */
export async function runHttpLoad(o: {
  url: string;
  connections: number;
  seconds: number;
  headers: Record<string, string>;
  /** Each request: its path and body, and headers of its own (they replace the run's). */
  next: () => { path: string; body: string; headers?: Record<string, string> };
  /** Checks a 2xx body; false counts as a mismatch. */
  verifyBody?: (body: string) => boolean;
}): Promise<HttpRun> {
  let firstRejection: string | null = null;
  const request: Request = {
    method: 'POST',
    setupRequest: (req) => ({ ...req, ...o.next() }),
    onResponse: (status, body) => {
      if ((status < 200 || status > 299) && firstRejection === null)
        firstRejection = `${status} ${body.slice(0, 300)}`;
    },
  };
  const r = await autocannon({
    url: o.url,
    connections: o.connections,
    duration: o.seconds,
    headers: o.headers,
    requests: [request],
    ...(o.verifyBody ? { verifyBody: o.verifyBody } : {}),
  });
  const statusCounts = Object.fromEntries(Object.entries(r.statusCodeStats).map(([s, v]) => [s, v.count]));
  return {
    ok: r['2xx'],
    seconds: r.duration,
    p99Ms: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    mismatches: r.mismatches,
    statusCounts,
    firstRejection,
  };
}

/** CPU seconds used so far by the three processes of the benchmark. */
export interface CpuSnapshot {
  at: number;
  /** This process: the Redis client or autocannon. */
  bench: number;
  server: number | null;
  serverLoopActiveMs: number | null;
  serverLoopIdleMs: number | null;
  redis: number;
  /** Busy CPU seconds of the whole machine (Linux), to tell what other processes took. */
  machine: number | null;
  /** Redis forks so far: with RDB saves off, each is an AOF rewrite, a child busy on a core. */
  redisForks: number;
}

/** Shares of one core; null where not measured (the cluster's rows: many redis-servers). */
export interface CpuShare {
  bench: number | null;
  server: number | null;
  /** Share of wall time the server's event loop was busy. */
  serverLoop: number | null;
  redis: number | null;
  /** Everything else running on the machine meanwhile (null where /proc/stat is missing). */
  other: number | null;
  /** AOF rewrites started in between. */
  redisForks: number;
}

/** USER_HZ, 100 on every mainstream Linux. */
const TICKS_PER_SECOND = 100;

function machineBusySeconds(): number | null {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8')
      .split('\n', 1)[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
    const busy = cpu.slice(0, 8).reduce((a, b) => a + b, 0) - cpu[3]! - cpu[4]!;
    return busy / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

async function redisInfoNumber(redis: Redis, section: string, names: string[]): Promise<number> {
  const info = await redis.info(section);
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return names.reduce((sum, name) => sum + field(name), 0);
}

export async function cpuSnapshot(o: { redis: Redis; serverUrl?: string }): Promise<CpuSnapshot> {
  const own = process.cpuUsage();
  type ServerCpu = { cpuMicros: number; loopActiveMs: number; loopIdleMs: number };
  const server = o.serverUrl ? ((await (await fetch(`${o.serverUrl}/bench/cpu`)).json()) as ServerCpu) : null;
  return {
    at: performance.now(),
    bench: (own.user + own.system) / 1e6,
    server: server ? server.cpuMicros / 1e6 : null,
    serverLoopActiveMs: server?.loopActiveMs ?? null,
    serverLoopIdleMs: server?.loopIdleMs ?? null,
    redis: await redisInfoNumber(o.redis, 'cpu', ['used_cpu_user', 'used_cpu_sys']),
    machine: machineBusySeconds(),
    redisForks: await redisInfoNumber(o.redis, 'stats', ['total_forks']),
  };
}

/** CPU use between two snapshots, as a share of one core (1 = 100 %). */
export function cpuShare(a: CpuSnapshot, b: CpuSnapshot): CpuShare {
  const wall = (b.at - a.at) / 1000;
  const loopActive = (b.serverLoopActiveMs ?? 0) - (a.serverLoopActiveMs ?? 0);
  const loopIdle = (b.serverLoopIdleMs ?? 0) - (a.serverLoopIdleMs ?? 0);
  const bench = (b.bench - a.bench) / wall;
  const server = a.server === null || b.server === null ? null : (b.server - a.server) / wall;
  const redis = (b.redis - a.redis) / wall;
  const machine = a.machine === null || b.machine === null ? null : (b.machine - a.machine) / wall;
  return {
    bench,
    server,
    serverLoop:
      a.server === null || loopActive + loopIdle === 0 ? null : loopActive / (loopActive + loopIdle),
    redis,
    other: machine === null ? null : Math.max(0, machine - bench - (server ?? 0) - redis),
    redisForks: b.redisForks - a.redisForks,
  };
}

/** Microseconds Redis spent per EVALSHA since the last CONFIG RESETSTAT (inner commands included). */
export async function redisMicrosPerScript(redis: Redis): Promise<number | null> {
  const stats = await redis.info('commandstats');
  const m = /^cmdstat_evalsha:calls=(\d+),usec=(\d+)/m.exec(stats);
  return m && Number(m[1]) > 0 ? Number(m[2]) / Number(m[1]) : null;
}
