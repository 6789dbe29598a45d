/**
 * Loads the Lua scripts of ./lua (one file a script, named <name>-<numberOfKeys>.lua, as in
 * BullMQ; <name>.lua when the caller gives the number of keys first, as `debit` does), inlines
 * `--- @include "<name>"` from ./lua/includes, and defines each as an ioredis command
 * (EVALSHA, falling back to EVAL when the script cache is empty).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cluster, Redis } from 'ioredis';

const LUA_DIR = join(dirname(fileURLToPath(import.meta.url)), 'lua');

export interface ScriptSource {
  name: string;
  /** Undefined: the first argument of each call is the number of keys. */
  numberOfKeys: number | undefined;
  lua: string;
}

function inline(lua: string): string {
  return lua.replace(/^--- @include "([\w-]+)"$/gm, (_, name: string) =>
    readFileSync(join(LUA_DIR, 'includes', `${name}.lua`), 'utf8'),
  );
}

export function loadScripts(): ScriptSource[] {
  return readdirSync(LUA_DIR)
    .filter((f) => f.endsWith('.lua'))
    .map((file) => {
      const m = /^([a-z]+(?:-[a-z]+)*)(?:-(\d+))?\.lua$/.exec(file);
      if (!m) throw new Error(`script file name must be <name>[-<numberOfKeys>].lua: ${file}`);
      const name = m[1]!.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
      const numberOfKeys = m[2] === undefined ? undefined : Number(m[2]);
      return { name, numberOfKeys, lua: inline(readFileSync(join(LUA_DIR, file), 'utf8')) };
    });
}

/** debit.lua's keys: the workspace's, then two for each event (its pre-issue-10 record, its day's totals). */
export const DEBIT_KEYS = { fixed: 9, perEvent: 2 } as const;

/**
 * A script whose key count varies, defined once more under `<name>One` with the key count of a
 * call for one event (`debit`: 9 keys, and 2 for the event). On the wire it is the same EVALSHA
 * of the same script; to ioredis its first argument is then a key, so on a Cluster it can
 * auto-pipeline the single-event debit, the API's hot path (see below).
 */
const ONE_EVENT_KEYS: Readonly<Record<string, number>> = { debit: DEBIT_KEYS.fixed + DEBIT_KEYS.perEvent };

const SOURCES: ScriptSource[] = loadScripts().flatMap((s) =>
  s.name in ONE_EVENT_KEYS ? [s, { ...s, name: `${s.name}One`, numberOfKeys: ONE_EVENT_KEYS[s.name] }] : [s],
);

/**
 * The scripts whose first argument is their key count (`debit`, `usageSum`): ioredis'
 * auto-pipelining groups a command it does not know by the slot of its first argument, which
 * for these is a number, so on a cluster calls for workspaces of different slots would share a
 * pipeline the cluster refuses. A Cluster client sends them outside auto-pipelining.
 */
export const SCRIPTS_WITH_KEY_COUNT_FIRST: readonly string[] = SOURCES.filter(
  (s) => s.numberOfKeys === undefined,
).map((s) => s.name);

/** The commands the scripts add to a client. */
export type ScriptName =
  | 'debit'
  | 'debitOne'
  | 'snapshot'
  | 'upsertWorkspace'
  | 'adjust'
  | 'flexSettings'
  | 'clawback'
  | 'usageSum'
  | 'usageSeen'
  | 'takeFinalFlex'
  | 'stripeRateTake'
  | 'stripeRateLimited'
  | 'testClockAdvance'
  | 'testClockCaughtUp'
  | 'archiveMark'
  | 'archiveUnmark'
  | 'usageDaysTrim'
  | 'billingLinkTake';
/** The scripts as commands of a client. */
export type ScriptCommands = Record<ScriptName, (...args: (string | number | Buffer)[]) => Promise<string[]>>;
/** One node or a Redis Cluster (each script's keys share one slot: the workspace's hash tag). */
export type ScriptClient = (Redis | Cluster) & ScriptCommands;

export function defineScripts(redis: Redis | Cluster): ScriptClient {
  for (const s of SOURCES) {
    if (s.name in redis) continue;
    redis.defineCommand(
      s.name,
      s.numberOfKeys === undefined ? { lua: s.lua } : { numberOfKeys: s.numberOfKeys, lua: s.lua },
    );
  }
  return redis as ScriptClient;
}
