/**
 * A private Redis Cluster of redis-server children: `npm start` with REDIS_CLUSTER=3 and the
 * tests' cluster leg (R-OPS-4). Each node listens on 127.0.0.1 on a port whose cluster-bus port
 * (port + 10000) is free too, keeps its data and nodes.conf under `<dir>/<port>`, and runs in its
 * own process group, as the single embedded server does, so Ctrl-C reaches the app first and the
 * nodes are stopped last.
 *
 * A folder that already holds a cluster of the same shape is started again on its own ports (its
 * nodes.conf knows them), so `npm start` keeps its data across restarts like the single node.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RedisNotInstalledError, redisServerInstalled } from './embedded-server.js';

export interface ClusterNodeAddress {
  host: string;
  port: number;
}

export interface EmbeddedClusterMember extends ClusterNodeAddress {
  pid: number;
  /** The role the node was given at start; a failover swaps it (ask CLUSTER NODES then). */
  role: 'master' | 'replica';
}

export interface EmbeddedCluster {
  /** Every node: the seed list for ioredis' Cluster and REDIS_CLUSTER_NODES. */
  nodes: ClusterNodeAddress[];
  /** The redis-server pids, in the order of `nodes`. */
  pids: number[];
  /** `nodes` with their pid and role at start. */
  members: EmbeddedClusterMember[];
  /** `host:port,host:port,…`: the value of REDIS_CLUSTER_NODES. */
  seedList: string;
  stop(): Promise<void>;
}

export interface EmbeddedClusterOptions {
  dir: string;
  masters: number;
  replicasPerMaster: number;
  appendOnly: boolean;
  /** cluster-node-timeout: how long a master may be unreachable before its replica takes over. */
  nodeTimeoutMs?: number;
}

const HOST = '127.0.0.1';
/** Redis' cluster bus listens on the client port plus this. */
const BUS_PORT_OFFSET = 10_000;
/** Below the usual ephemeral range, and low enough that port + 10000 is a valid port. */
const PORT_RANGE = { from: 20_000, to: 30_000 } as const;
const START_DEADLINE_MS = 30_000;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, HOST, () => srv.close(() => resolve(true)));
  });
}

/** A port free a moment ago whose bus port is free too, and not one of `taken`. */
async function freeClusterPort(taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = PORT_RANGE.from + Math.floor(Math.random() * (PORT_RANGE.to - PORT_RANGE.from));
    if (taken.has(port)) continue;
    if ((await portFree(port)) && (await portFree(port + BUS_PORT_OFFSET))) return port;
  }
  throw new Error(`no free port pair (port and port + ${BUS_PORT_OFFSET}) found for a cluster node`);
}

/** The ports of a cluster started earlier in `dir` (one folder with a nodes.conf per node). */
function previousPorts(dir: string): number[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => /^\d+$/.test(name) && existsSync(join(dir, name, 'nodes.conf')))
    .map(Number)
    .sort((a, b) => a - b);
}

function spawnNode(o: EmbeddedClusterOptions, port: number): ChildProcess {
  const dir = join(o.dir, String(port));
  mkdirSync(dir, { recursive: true });
  const args = ['--port', String(port), '--bind', HOST, '--dir', dir, '--save', ''];
  args.push('--appendonly', o.appendOnly ? 'yes' : 'no', '--appendfsync', 'everysec');
  args.push('--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf');
  args.push('--cluster-node-timeout', String(o.nodeTimeoutMs ?? 5000));
  return spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'inherit'], detached: true });
}

async function probe<T>(port: number, ask: (r: Redis) => Promise<T>): Promise<T | undefined> {
  const r = new Redis({
    host: HOST,
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  r.on('error', () => {});
  try {
    await r.connect();
    return await ask(r);
  } catch {
    return undefined;
  } finally {
    r.disconnect();
  }
}

async function until(what: string, deadline: number, check: () => Promise<boolean>): Promise<void> {
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`embedded cluster: ${what} did not happen in time`);
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function roleOf(port: number): Promise<'master' | 'replica'> {
  const info = await probe(port, (r) => r.info('replication'));
  return info && /role:slave/.test(info) ? 'replica' : 'master';
}

/**
 * Starts `masters × (1 + replicasPerMaster)` redis-server processes, joins them with
 * `redis-cli --cluster create` (or restarts the cluster already in `dir`) and resolves once
 * every node reports `cluster_state:ok`.
 */
export async function startEmbeddedCluster(o: EmbeddedClusterOptions): Promise<EmbeddedCluster> {
  if (!redisServerInstalled()) throw new RedisNotInstalledError();
  const count = o.masters * (1 + o.replicasPerMaster);
  if (o.masters < 3) throw new Error('a Redis Cluster needs at least 3 masters');
  mkdirSync(o.dir, { recursive: true });

  const earlier = previousPorts(o.dir);
  const restart = earlier.length === count;
  if (earlier.length > 0 && !restart) {
    throw new Error(
      `${o.dir} holds a cluster of ${earlier.length} nodes, not ${count}: remove that folder to start a new one`,
    );
  }
  let ports: number[];
  if (restart) {
    for (const port of earlier) {
      if (!(await portFree(port)) || !(await portFree(port + BUS_PORT_OFFSET))) {
        throw new Error(
          `the cluster in ${o.dir} listens on port ${port} (and ${port + BUS_PORT_OFFSET}), which is taken: free it or remove that folder`,
        );
      }
    }
    ports = earlier;
  } else {
    const taken = new Set<number>();
    ports = [];
    for (let i = 0; i < count; i++) {
      const port = await freeClusterPort(taken);
      taken.add(port);
      ports.push(port);
    }
  }

  const children = ports.map((port) => spawnNode(o, port));
  const stop = async () => {
    await Promise.all(children.map(stopChild));
  };
  try {
    const deadline = Date.now() + START_DEADLINE_MS;
    for (const [i, port] of ports.entries()) {
      await until(`node ${port} answering PING`, deadline, async () => {
        const exit = children[i]?.exitCode;
        if (exit !== null && exit !== undefined)
          throw new Error(`redis-server on port ${port} exited with ${exit}`);
        return (await probe(port, (r) => r.ping())) === 'PONG';
      });
    }
    if (!restart) {
      const create = spawnSync(
        'redis-cli',
        [
          '--cluster',
          'create',
          ...ports.map((p) => `${HOST}:${p}`),
          '--cluster-replicas',
          String(o.replicasPerMaster),
          '--cluster-yes',
        ],
        { encoding: 'utf8', timeout: START_DEADLINE_MS },
      );
      if (create.status !== 0) {
        throw new Error(`redis-cli --cluster create failed: ${(create.stdout + create.stderr).trim()}`);
      }
    }
    for (const port of ports) {
      await until(`cluster_state:ok on node ${port}`, deadline, async () => {
        const info = await probe(port, (r) => r.cluster('INFO'));
        return typeof info === 'string' && info.includes('cluster_state:ok');
      });
    }
    const members: EmbeddedClusterMember[] = [];
    for (const [i, port] of ports.entries()) {
      members.push({ host: HOST, port, pid: children[i]?.pid ?? 0, role: await roleOf(port) });
    }
    // Ready means replicated too: until a replica's first sync is done, WAIT on its master
    // answers 0 (and a grant waiting for a replica would be retried for nothing).
    for (const m of members.filter((x) => x.role === 'replica')) {
      await until(`replica ${m.port} in sync`, deadline, async () => {
        const info = await probe(m.port, (r) => r.info('replication'));
        return typeof info === 'string' && info.includes('master_link_status:up');
      });
    }
    const nodes = ports.map((port) => ({ host: HOST, port }));
    return {
      nodes,
      pids: members.map((m) => m.pid),
      members,
      seedList: nodes.map((n) => `${n.host}:${n.port}`).join(','),
      stop,
    };
  } catch (err) {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    // A cluster that never formed must not be taken for one to restart next time.
    if (!restart)
      for (const port of ports) rmSync(join(o.dir, String(port)), { recursive: true, force: true });
    throw err;
  }
}
