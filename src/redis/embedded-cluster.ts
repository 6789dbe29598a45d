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
  /**
   * Starts a node that died (a test or bench SIGKILLs a master) again, on its port and folder:
   * it loads its data and nodes.conf and rejoins; a master failed over meanwhile comes back as a
   * replica of the node promoted in its place (see its role with clusterView). Resolves once it
   * answers PING, with its new pid (also in `members` and `pids`); `stop()` stops it too.
   */
  restartNode(port: number): Promise<EmbeddedClusterMember>;
  /**
   * A failover, as a test or bench causes one: SIGKILLs the master that serves `slot` now, waits
   * until every live node names another master for it (its replica, promoted) and reports
   * `cluster_state:ok`, then restarts the killed node and waits until it is that master's replica,
   * in sync. `replicaLinkDownMs`: that long before the kill, the replica is stopped (SIGSTOP, so
   * it cannot reconnect) and the master drops its replication link (CLIENT KILL TYPE replica), as
   * a broken link or a replica output buffer over its limit would: the master goes on answering
   * writes no replica gets. The replica is resumed (SIGCONT) right after the kill.
   */
  killMaster(slot: number, o?: { replicaLinkDownMs?: number }): Promise<FailoverReport>;
  stop(): Promise<void>;
}

export interface FailoverReport {
  slot: number;
  /** The port of the master killed (now a replica again). */
  killed: number;
  /** The port of the replica promoted in its place. */
  promoted: number;
  /** From the kill until every live node reported the new master and cluster_state:ok. */
  failoverMs: number;
  /** From then until the killed node was back, a replica in sync. */
  rejoinMs: number;
}

/** One node as CLUSTER NODES describes it, from the node asked. */
export interface ClusterNodeView extends ClusterNodeAddress {
  id: string;
  role: 'master' | 'replica';
  /** Flagged `fail` (or `fail?`) by the node asked. */
  failing: boolean;
  /** A replica's master id; null for a master. */
  masterId: string | null;
  /** A master's slot ranges, inclusive. */
  slots: [number, number][];
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
  // A replica's full sync starts at once: the default waits 5 s for more replicas to share it,
  // and each master here has one (a replica back after a failover was 5 s longer out of sync).
  args.push('--repl-diskless-sync-delay', '0');
  return spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'inherit'], detached: true });
}

/** One question to one node, on a connection of its own; undefined if it does not answer. */
async function probe<T>(
  port: number,
  ask: (r: Redis) => Promise<T>,
  host: string = HOST,
): Promise<T | undefined> {
  const r = new Redis({
    host,
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
 * The cluster as the node at `port` sees it now (CLUSTER NODES), or undefined if it does not
 * answer. Roles change with failovers: this, not `members`, says who is master now.
 */
export async function clusterView(port: number, host = HOST): Promise<ClusterNodeView[] | undefined> {
  const text = await probe(port, (r) => r.call('CLUSTER', 'NODES') as Promise<string>, host);
  if (typeof text !== 'string') return undefined;
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id = '', address = '', flags = '', master = '-', , , , , ...slots] = line.split(' ');
      const [, h = '', p = '0'] = /^([^:]*):(\d+)@/.exec(address) ?? [];
      const flagSet = new Set(flags.split(','));
      return {
        id,
        host: h,
        port: Number(p),
        role: flagSet.has('slave') ? 'replica' : 'master',
        failing: flagSet.has('fail') || flagSet.has('fail?'),
        masterId: master === '-' ? null : master,
        slots: slots
          .filter((x) => /^\d/.test(x))
          .map((x) => {
            const [from, to = from] = x.split('-').map(Number);
            return [from, to] as [number, number];
          }),
      } satisfies ClusterNodeView;
    });
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
    const pids = members.map((m) => m.pid);
    const restartNode = async (port: number): Promise<EmbeddedClusterMember> => {
      const i = ports.indexOf(port);
      const old = children[i];
      if (i < 0 || !old) throw new Error(`no node of this cluster listens on port ${port}`);
      // A node killed a moment ago: its exit may not have been reported yet.
      await until(`node ${port} (pid ${old.pid}) gone before its restart`, Date.now() + 5000, async () => {
        return old.exitCode !== null || old.signalCode !== null;
      });
      const child = spawnNode(o, port);
      children[i] = child;
      await until(`node ${port} answering PING again`, Date.now() + START_DEADLINE_MS, async () => {
        if (child.exitCode !== null)
          throw new Error(`redis-server on port ${port} exited with ${child.exitCode}`);
        return (await probe(port, (r) => r.ping())) === 'PONG';
      });
      const member: EmbeddedClusterMember = {
        host: HOST,
        port,
        pid: child.pid ?? 0,
        role: await roleOf(port),
      };
      members[i] = member;
      pids[i] = member.pid;
      return member;
    };
    const killMaster = async (
      slot: number,
      ko: { replicaLinkDownMs?: number } = {},
    ): Promise<FailoverReport> => {
      const serves = (n: ClusterNodeView) =>
        n.role === 'master' && !n.failing && n.slots.some(([from, to]) => from <= slot && slot <= to);
      let view: ClusterNodeView[] | undefined;
      for (const port of ports) if (!view) view = await clusterView(port);
      const master = view?.find(serves);
      const victim = members.find((m) => m.port === master?.port);
      if (!master || !victim) throw new Error(`no live master serves slot ${slot}`);
      const replicaPort = view?.find((n) => n.masterId === master.id && !n.failing)?.port;
      const replica = members.find((m) => m.port === replicaPort);
      const linkDown = ko.replicaLinkDownMs ?? 0;
      const stopped = linkDown > 0 && replica ? replica : undefined;
      let killedAt: number;
      try {
        if (stopped) {
          process.kill(stopped.pid, 'SIGSTOP');
          await probe(victim.port, (r) => r.call('CLIENT', 'KILL', 'TYPE', 'replica'));
          await new Promise((r) => setTimeout(r, linkDown));
        }
        killedAt = Date.now();
        process.kill(victim.pid, 'SIGKILL');
      } finally {
        if (stopped) process.kill(stopped.pid, 'SIGCONT');
      }
      const others = ports.filter((p) => p !== victim.port);
      let promoted = 0;
      await until(`a replica promoted for slot ${slot}`, killedAt + START_DEADLINE_MS, async () => {
        const seen = new Set<number>();
        for (const port of others) {
          const [nodesNow, info] = [await clusterView(port), await probe(port, (r) => r.cluster('INFO'))];
          const now = nodesNow?.find(serves);
          if (!now || now.port === victim.port) return false;
          if (typeof info !== 'string' || !info.includes('cluster_state:ok')) return false;
          seen.add(now.port);
        }
        if (seen.size !== 1) return false;
        promoted = [...seen][0]!;
        return true;
      });
      const promotedAt = Date.now();
      await restartNode(victim.port);
      await until(`node ${victim.port} a replica in sync again`, promotedAt + START_DEADLINE_MS, async () => {
        const info = await probe(victim.port, (r) => r.info('replication'));
        return (
          typeof info === 'string' &&
          info.includes('role:slave') &&
          info.includes(`master_port:${promoted}`) &&
          info.includes('master_link_status:up')
        );
      });
      return {
        slot,
        killed: victim.port,
        promoted,
        failoverMs: promotedAt - killedAt,
        rejoinMs: Date.now() - promotedAt,
      };
    };
    return {
      nodes,
      pids,
      members,
      seedList: nodes.map((n) => `${n.host}:${n.port}`).join(','),
      restartNode,
      killMaster,
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
