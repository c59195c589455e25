/**
 * One private redis-server per data folder, across processes, kept in `<dir>/rota.pid`: a JSON
 * object with the owner's pid and, from its spawn, its server's pid and port.
 *
 * A server in a process group of its own (see LocalRedisOptions.detached) outlives an owner that
 * is SIGKILLed: nothing else stops it. The next claim of the folder finds the file, sees the owner
 * gone, and stops that leftover server, but only once it has shown to be a redis-server of this
 * folder (it answers on the recorded port with the recorded pid and this folder as its dir): a pid
 * reused since, or a port another server took, is left alone. A claim whose owner is alive is
 * refused: two servers writing one append-only file corrupt it.
 */
import { randomBytes } from 'node:crypto';
import { link, readFile, realpath, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { HOST } from './server-process.js';

export const CLAIM_FILE = 'rota.pid';
const IDENTIFY_TIMEOUT_MS = 1_000;
const LEFTOVER_STOP_TIMEOUT_MS = 10_000;
const LEFTOVER_POLL_MS = 50;

/** Another live process owns the data folder (or owned it and its pid was reused since). */
export class DataDirInUseError extends Error {
  override readonly name = 'DataDirInUseError';
  readonly code = 'data_dir_in_use';

  constructor(
    readonly dir: string,
    readonly owner: number | undefined,
    readonly claimFile: string,
  ) {
    super(
      owner === undefined
        ? `the Redis data folder ${dir} is claimed by ${claimFile}, which names no owner: ` +
            `if no rota runs on this folder, delete that file; or set ROTA_REDIS_DATA_DIR (--redis-data-dir) to another folder`
        : `the Redis data folder ${dir} is in use by the redis-server of process ${owner} (another rota?): ` +
            'two servers on one folder would corrupt its append-only file. Stop that process, ' +
            `or set ROTA_REDIS_DATA_DIR (--redis-data-dir) to another folder (if process ${owner} is no rota, delete ${claimFile})`,
    );
  }
}

/** What the claim file records. */
interface Claim {
  readonly owner: number;
  readonly server?: number;
  readonly port?: number;
}

/** A server a SIGKILLed owner left running, stopped before the claim was taken. */
export interface Leftover {
  readonly owner: number;
  readonly pid: number;
  readonly port: number;
}

export interface DataDirClaim {
  /** Set when a server left running by an earlier, SIGKILLed owner was stopped first. */
  readonly leftover: Leftover | undefined;
  /** Records the server just spawned, for the next claim to find should this process be killed. */
  record(serverPid: number, port: number): Promise<void>;
  /** Gives the folder up: once its server is seen to have exited. */
  release(): Promise<void>;
}

export async function claimDataDir(dir: string): Promise<DataDirClaim> {
  const file = path.join(dir, CLAIM_FILE);
  const mine: Claim = { owner: process.pid };
  if (await createExclusively(file, mine)) return new OwnedClaim(file, undefined);
  const found = await readClaim(file);
  if (found === undefined) throw new DataDirInUseError(dir, undefined, file);
  // The recorded server still running as this folder's says more than the
  // owner's pid: after a container restart, say, pids start over, and the old
  // owner's may belong to any process now (our own parent), while its server
  // is gone. With no server recorded yet, the owner's pid is all there is.
  const serving = await serverOfDir(found, dir);
  if (isAlive(found.owner) && (serving !== undefined || found.server === undefined)) {
    throw new DataDirInUseError(dir, found.owner, file);
  }
  const leftover = serving && (await stopLeftover(found.owner, serving));
  // Taken over only if still the dead owner's: a start racing this one may have done it first.
  if (JSON.stringify(await readClaim(file)) === JSON.stringify(found)) {
    await unlink(file).catch(() => undefined);
  }
  if (await createExclusively(file, mine)) return new OwnedClaim(file, leftover);
  throw new DataDirInUseError(dir, (await readClaim(file))?.owner, file);
}

class OwnedClaim implements DataDirClaim {
  constructor(
    private readonly file: string,
    readonly leftover: Leftover | undefined,
  ) {}

  async record(server: number, port: number): Promise<void> {
    const temporary = temporaryPath(this.file);
    await writeFile(temporary, JSON.stringify({ owner: process.pid, server, port }));
    await rename(temporary, this.file);
  }

  async release(): Promise<void> {
    await unlink(this.file).catch(() => undefined);
  }
}

/** Creates `file` holding `claim`, atomically (link fails when it exists); false when it existed. */
async function createExclusively(file: string, claim: Claim): Promise<boolean> {
  const temporary = temporaryPath(file);
  await writeFile(temporary, JSON.stringify(claim));
  try {
    await link(temporary, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
}

function temporaryPath(file: string): string {
  return `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
}

/** The claim in `file`; undefined when it cannot be read as one. */
async function readClaim(file: string): Promise<Claim | undefined> {
  try {
    const claim = JSON.parse(await readFile(file, 'utf8')) as Partial<Claim> | null;
    const isPid = (value: unknown): value is number => Number.isInteger(value) && Number(value) > 0;
    if (!isPid(claim?.owner)) return undefined;
    if (!isPid(claim.server) || !isPid(claim.port)) return { owner: claim.owner };
    return { owner: claim.owner, server: claim.server, port: claim.port };
  } catch {
    return undefined;
  }
}

/** The server a claim recorded, while it still runs as a redis-server of `dir` (its pid may be reused). */
async function serverOfDir(
  { server, port }: Claim,
  dir: string,
): Promise<{ server: number; port: number } | undefined> {
  if (server === undefined || port === undefined || !isAlive(server)) return undefined;
  const identity = await identify(port);
  return identity?.pid === server && identity.dir === (await realpath(dir))
    ? { server, port }
    : undefined;
}

/**
 * Stops the server a dead owner left (serverOfDir found it running as this folder's); waits
 * until it no longer answers as itself (a zombie nobody reaps still has its pid).
 */
async function stopLeftover(
  owner: number,
  { server, port }: { server: number; port: number },
): Promise<Leftover> {
  process.kill(server, 'SIGTERM'); // a graceful SHUTDOWN: flushes the append-only file
  const escalateAt = Date.now() + LEFTOVER_STOP_TIMEOUT_MS;
  let escalated = false;
  while (isAlive(server) && (await identify(port))?.pid === server) {
    if (!escalated && Date.now() >= escalateAt) {
      process.kill(server, 'SIGKILL');
      escalated = true;
    }
    await sleep(LEFTOVER_POLL_MS);
  }
  return { owner, pid: server, port };
}

/** Pid and data folder of the redis-server on `port`; undefined when none answers. */
async function identify(port: number): Promise<{ pid: number; dir: string } | undefined> {
  const redis = new Redis({
    host: HOST,
    port,
    lazyConnect: true,
    enableReadyCheck: false, // INFO and CONFIG answer while a server loads its data
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: IDENTIFY_TIMEOUT_MS,
    commandTimeout: IDENTIFY_TIMEOUT_MS,
  });
  redis.on('error', () => undefined); // a refused connection is an answer here
  try {
    await redis.connect();
    const pid = /^process_id:(\d+)\r?$/m.exec(await redis.info('server'))?.[1];
    const [, dir] = await redis.config('GET', 'dir');
    return pid === undefined || dir === undefined ? undefined : { pid: Number(pid), dir };
  } catch {
    return undefined;
  } finally {
    redis.disconnect();
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}
