import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';

/**
 * The Lua scripts, one atomic operation each (see the header of each file for
 * its KEYS, ARGV and reply). A line `-- @include name` pulls in
 * `lua/includes/name.lua`, so shared snippets are written once.
 * ioredis sends them by EVALSHA and loads them on NOSCRIPT.
 *
 * Each script has one key (any key of its first tenant, for routing) and says
 * whether it may run while Redis is out of memory. At `maxmemory` with
 * `noeviction` (the policy Rota asks for) Redis refuses writes that add data,
 * and a script without flags fails at its first such write. Enqueue, replay
 * and progress add data and are refused (Enqueue answers RESOURCE_EXHAUSTED).
 * The scripts that lease, settle, cancel and recover jobs run anyway
 * (`#!lua flags=allow-oom`, Redis 7.0+): they are how a full Redis drains.
 * Without the flag, no job could be leased or completed at `maxmemory`, the
 * stream entries and job hashes that completions delete or expire stayed, and
 * the queue stood still until someone freed memory by hand.
 */
const SCRIPTS = {
  enqueue: { allowOom: false },
  fetch: { allowOom: true },
  // gives back jobs a call read and the broker never heard of: they wait a lease TTL otherwise
  abandon_call: { allowOom: true },
  lease: { allowOom: true },
  adopt: { allowOom: true },
  complete: { allowOom: true },
  fail: { allowOom: true },
  progress: { allowOom: false },
  cancel: { allowOom: true },
  // a full Redis is when an operator most needs to throw a backlog away
  purge: { allowOom: true },
  replay: { allowOom: false },
  // runs when Redis is full without the flag: it only removes (ZREM, DEL)
  delete_dead: { allowOom: false },
  reclaim: { allowOom: true },
  // a stopping broker's read-ahead: lost to every worker for a lease TTL otherwise
  release: { allowOom: true },
  stats: { allowOom: false },
  // it only deletes, and frees what idle tenant×queues held
  retire: { allowOom: true },
  put_tenant: { allowOom: false },
  // a few bytes per rate-limited tenant; without it a full Redis could not lease their jobs
  take_tokens: { allowOom: true },
  // likewise for tenants with an in-flight cap
  hold_slots: { allowOom: true },
} as const;

export type ScriptName = keyof typeof SCRIPTS;
export type ScriptArg = string | number | Buffer;

const luaDir = fileURLToPath(new URL('./lua/', import.meta.url));

function readLua(name: ScriptName): string {
  const text = readFileSync(`${luaDir}${name}.lua`, 'utf8');
  const body = text.replace(/^-- @include (\w+)$/gm, (_line, include: string) =>
    readFileSync(`${luaDir}includes/${include}.lua`, 'utf8'),
  );
  return SCRIPTS[name].allowOom ? `#!lua flags=allow-oom\n${body}` : body;
}

const sources = new Map<ScriptName, string>();
function source(name: ScriptName): string {
  let lua = sources.get(name);
  if (lua === undefined) {
    lua = readLua(name);
    sources.set(name, lua);
  }
  return lua;
}

const defined = new WeakSet<Redis>();

/** Registers every script on a connection; again on the same connection does nothing. */
export function defineScripts(redis: Redis): void {
  if (defined.has(redis)) return;
  defined.add(redis);
  for (const name of Object.keys(SCRIPTS) as ScriptName[]) {
    redis.defineCommand(name, { numberOfKeys: 1, lua: source(name) });
  }
}

type ScriptMethod = (...args: ScriptArg[]) => Promise<unknown>;

/** Runs a script; `buffers` returns bulk strings as Buffers (binary payloads). */
export function runScript(
  redis: Redis,
  name: ScriptName,
  keys: readonly string[],
  args: readonly ScriptArg[],
  buffers = false,
): Promise<unknown> {
  const method = (redis as unknown as Record<string, ScriptMethod>)[
    buffers ? `${name}Buffer` : name
  ];
  if (!method) throw new Error(`script ${name} is not defined on this connection`);
  return method.call(redis, ...keys, ...args);
}

/** Commands queued for one batch (see sendBatch). */
export interface Batch {
  /** A script; `buffers` as in runScript. */
  script(
    name: ScriptName,
    keys: readonly string[],
    args: readonly ScriptArg[],
    buffers?: boolean,
  ): void;
  /** The reply of any other command, sent on the same connection inside the batch's callback. */
  add(reply: Promise<unknown>): void;
  /** How many commands are queued so far (the index of the next one's reply). */
  readonly size: number;
}

/**
 * Sends the commands `queue` adds in one socket write, as a pipeline does, and
 * resolves with their replies in order; a failed command fails the whole call
 * (the caller maps it). Unlike a pipeline, commands are written as they are
 * added: if `queue` throws, those added before still go out, and the throw is
 * the call's error.
 *
 * Why not ioredis's `pipeline()`: each Pipeline copies every command and
 * script method onto itself, and V8 keeps it, and what it references, through
 * young-generation collections until a full one. At 2,000 single-job
 * enqueues a second, the broker's scavenges copied about 4 MB each and paused
 * it 7–12 ms every ~350 ms, the tail of every job that arrived meanwhile.
 * Plain commands on a corked socket make the same single write.
 */
export async function sendBatch(redis: Redis, queue: (batch: Batch) => void): Promise<unknown[]> {
  const replies: Array<Promise<unknown>> = [];
  const batch: Batch = {
    script: (name, keys, args, buffers = false) =>
      replies.push(runScript(redis, name, keys, args, buffers)),
    add: (reply) => replies.push(reply),
    get size() {
      return replies.length;
    },
  };
  // Not yet connected, ioredis queues the commands and writes them together anyway.
  const socket = redis.status === 'ready' ? redis.stream : undefined;
  socket?.cork();
  try {
    queue(batch);
  } catch (error) {
    // What was queued before the throw goes out anyway: its failures must not go unobserved.
    for (const reply of replies) reply.catch(() => undefined);
    throw error;
  } finally {
    socket?.uncork();
  }
  return Promise.all(replies);
}
