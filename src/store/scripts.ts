import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ChainableCommander, Redis } from 'ioredis';

/**
 * The Lua scripts, one atomic operation each (see the header of each file for
 * its KEYS, ARGV and reply). A line `-- @include name` pulls in
 * `lua/includes/name.lua`, so shared snippets are written once.
 * ioredis sends them by EVALSHA and loads them on NOSCRIPT, also in pipelines.
 */
const SCRIPT_KEYS = {
  enqueue: 1,
  fetch: 1,
  lease: 1,
  adopt: 1,
  complete: 1,
  fail: 1,
  progress: 1,
  cancel: 1,
  replay: 1,
  reclaim: 1,
  stats: 1,
} as const;

export type ScriptName = keyof typeof SCRIPT_KEYS;
export type ScriptArg = string | number | Buffer;

const luaDir = fileURLToPath(new URL('./lua/', import.meta.url));

function readLua(name: string): string {
  const text = readFileSync(`${luaDir}${name}.lua`, 'utf8');
  return text.replace(/^-- @include (\w+)$/gm, (_line, include: string) =>
    readFileSync(`${luaDir}includes/${include}.lua`, 'utf8'),
  );
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

/** Registers every script on a connection (once per connection). */
export function defineScripts(redis: Redis): void {
  for (const [name, numberOfKeys] of Object.entries(SCRIPT_KEYS)) {
    redis.defineCommand(name, { numberOfKeys, lua: source(name as ScriptName) });
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

/** Queues a script on a pipeline; `buffers` as in runScript. */
export function queueScript(
  pipeline: ChainableCommander,
  name: ScriptName,
  keys: readonly string[],
  args: readonly ScriptArg[],
  buffers = false,
): void {
  const method = (pipeline as unknown as Record<string, (...a: ScriptArg[]) => unknown>)[
    buffers ? `${name}Buffer` : name
  ];
  if (!method) throw new Error(`script ${name} is not defined on this connection`);
  method.call(pipeline, ...keys, ...args);
}
