/**
 * Soak run under faults: `npx tsx bench/soak.ts --duration 60 [--fault-every 10]`.
 *
 * Starts a private redis-server (AOF, appendfsync always), the broker as a
 * process (`src/cli.ts`; `--brokers n` starts n of them on the one Redis),
 * worker processes (test/faults/agents/worker-agent.ts) connected through a
 * TCP proxy (worker i to broker i mod n), and producers (lane i to broker
 * i mod n) that retry failed Enqueues under the same idempotency key. Every
 * `--fault-every` seconds it injects the next fault of the cycle: kill -9 a
 * worker (and start a new one), kill -9 and restart a broker (one at a time,
 * in turn), cut the worker connections, kill -9 and restart Redis, stop
 * Redis for 2.5-5 s (SIGSTOP, then SIGCONT: every command waits). After
 * `--duration` seconds it stops producing, lets the jobs settle, and reports
 * jobs enqueued (acknowledged), completed, dead, cancelled, duplicated, lost
 * and stuck (lost and stuck must read 0), and the leases the workers
 * re-attached at a reconnect (or had refused), as a table and as JSON under
 * bench/results/.
 *
 * Options: --duration <s> (60) --fault-every <s> (10) --workers <n> (3)
 *   --concurrency <n> per worker (8) --rate <jobs/s> (100) --job-ms <min>-<max> (10-100)
 *   --faults worker,broker,net,redis,stall (all) --settle <s> (30) --keep-logs
 *   --brokers <n> (1): brokers sharing the Redis; a broker killed holds leases
 *   that another broker's recovery sweep reclaims, and --limits are shared.
 *   --spread (with --brokers ≥ 2): workers and producer lanes are given every
 *   broker's address as one gRPC target, each list rotated (worker i and lane
 *   i start at broker i mod n), so they spread over the brokers and, when
 *   theirs is killed, fail over to the next one that answers: workers
 *   re-attach their running leases there (src/broker/reattach.ts) instead of
 *   waiting for the restart.
 *   --mix: a mixed workload (test/faults/mixed-workload.ts): priorities 0-3,
 *   15% of the jobs fail their first 1-2 attempts and then succeed, 5% fail
 *   every attempt (2 of them) and must go DEAD with their error, 20% are
 *   delayed by 0.2-3 s and must not start before then, 10% are cancelled
 *   0-0.6 s after the Enqueue and must end as CancelJob answered and not start
 *   after it answered CANCELLED, and 8% are enqueued again under their key
 *   and must be answered as a duplicate of the first. Once every job settled,
 *   the agents are healed and the dead letters replayed: every dead job must
 *   then complete, and no dead letter may be left.
 *   --limits: tenant globex gets max_in_flight 4 (or twice the handlers its share
 *   keeps busy, when --job-ms is long), and initech a rate of 1.5 times
 *   its share (a third of --rate reaches each tenant) with a burst of 5, so it
 *   falls behind in each outage and catches up at its limit: the limits every
 *   broker shares in Redis go through the faults too. The run then also checks
 *   that initech never started more than its rate + burst jobs in any second,
 *   and that globex never ran more jobs at once than its cap, away from faults
 *   (a fault may overdraw it for a while: CAP_CONVERGENCE_MS) but for Redis
 *   stalls: through those, and after them, the cap holds.
 * Exit code 1 when a job was lost or stuck, or another invariant broke.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { Admin, type JobInfo } from '../clients/index.js';
import { Cluster, waitBrokerReady, type WorkerAgent } from '../test/faults/cluster.js';
import { checkInvariants, leftovers, settle, type FaultWindow } from '../test/faults/invariants.js';
import { reattachments, startCount, type JournalRecord } from '../test/faults/journal.js';
import { LoadGenerator, type AckedJob } from '../test/faults/load.js';
import { MixedWorkload } from '../test/faults/mixed-workload.js';
import { REPO_ROOT, sleep } from '../test/faults/processes.js';

type FaultKind = 'worker' | 'broker' | 'net' | 'redis' | 'stall';
const ALL_FAULTS: readonly FaultKind[] = ['worker', 'broker', 'net', 'redis', 'stall'];
/** A Redis stall (SIGSTOP … SIGCONT), as a long fork or a paused VM makes one: the in-flight cap must hold through it. */
const STALL = 'stall redis';

interface SoakOptions {
  readonly durationS: number;
  readonly faultEveryS: number;
  readonly workers: number;
  readonly concurrency: number;
  readonly rate: number;
  readonly jobMs: readonly [number, number];
  readonly faults: readonly FaultKind[];
  readonly settleS: number;
  readonly keepLogs: boolean;
  readonly limits: boolean;
  readonly brokers: number;
  readonly mix: boolean;
  readonly spread: boolean;
}

const HELP = `usage: npx tsx bench/soak.ts [options]     (npm run soak -- [options])

Load on brokers sharing a private Redis, with a fault injected on a schedule;
then checks that no job was lost or stuck (exit 1 when one was).

  --duration <s>        seconds of load and faults (default 60)
  --fault-every <s>     seconds between faults, injected in turn (default 10)
  --workers <n>         worker processes (default 3)
  --concurrency <n>     jobs one worker runs at once (default 8)
  --rate <n>            jobs enqueued per second (default 100)
  --job-ms <min>-<max>  each job runs a random time in this range (default 10-100)
  --faults <list>       of worker, broker, net, redis, stall: kill -9 a worker,
                        kill -9 and restart a broker, cut the worker connections,
                        kill -9 and restart Redis, stop Redis for 2.5-5 s (SIGSTOP,
                        then SIGCONT) (default all)
  --settle <s>          after the load, how long the jobs get to end (default 30)
  --keep-logs           keep the processes' logs and say where they are
  --brokers <n>         brokers on the one Redis; producers and workers spread over
                        them, broker faults kill one at a time (default 1)
  --spread              with --brokers 2 or more: workers and producers get every
                        broker's address (rotated, so they spread) and fail over
                        when theirs is killed
  --mix                 retried, dead (then replayed), delayed, prioritized, cancelled
                        and re-enqueued jobs, each checked for the end it promised
  --limits              a capped tenant (globex) and a rate-limited one (initech),
                        whose cap and rate are checked to hold
  --help                this text`;

/** A mistake in the arguments: named on stderr, exit 2, before anything starts. */
function usage(message: string): never {
  console.error(`soak: ${message}; see --help`);
  process.exit(2);
}

function parseArgs(argv: readonly string[]): SoakOptions {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      console.log(HELP);
      process.exit(0);
    }
    if (arg === '--keep-logs' || arg === '--limits' || arg === '--mix' || arg === '--spread') {
      flags.add(arg);
      continue;
    }
    if (!arg.startsWith('--')) usage(`unexpected argument ${arg}`);
    const [name, inline] = arg.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = inline ?? argv[++i];
    if (value === undefined) usage(`${name} needs a value`);
    values.set(name, value);
  }
  const known = [
    '--duration',
    '--fault-every',
    '--workers',
    '--concurrency',
    '--rate',
    '--job-ms',
    '--faults',
    '--settle',
    '--brokers',
  ];
  for (const name of values.keys()) if (!known.includes(name)) usage(`unknown option ${name}`);
  const num = (name: string, fallback: number, min: number): number => {
    const raw = values.get(name);
    const value = raw === undefined ? fallback : Number(raw);
    if (!Number.isFinite(value) || value < min)
      usage(`${name} must be a number ≥ ${min}, got ${raw}`);
    return value;
  };
  const [minMs, maxMs] = (values.get('--job-ms') ?? '10-100').split('-').map(Number);
  if (!(minMs! >= 0 && maxMs! >= minMs!)) usage('--job-ms must look like 10-100');
  const faults = (values.get('--faults') ?? ALL_FAULTS.join(','))
    .split(',')
    .filter((f) => f !== '');
  for (const fault of faults) {
    if (!ALL_FAULTS.includes(fault as FaultKind))
      usage(`unknown fault ${fault} (one of ${ALL_FAULTS.join(', ')})`);
  }
  const brokers = Math.floor(num('--brokers', 1, 1));
  if (flags.has('--spread') && brokers < 2) usage('--spread needs --brokers 2 or more');
  return {
    durationS: num('--duration', 60, 1),
    faultEveryS: num('--fault-every', 10, 1),
    workers: Math.floor(num('--workers', 3, 1)),
    concurrency: Math.floor(num('--concurrency', 8, 1)),
    rate: num('--rate', 100, 1),
    jobMs: [minMs!, maxMs!],
    faults: faults as FaultKind[],
    settleS: num('--settle', 30, 1),
    keepLogs: flags.has('--keep-logs'),
    limits: flags.has('--limits'),
    brokers,
    mix: flags.has('--mix'),
    spread: flags.has('--spread'),
  };
}

const random = (min: number, max: number): number =>
  Math.floor(min + Math.random() * (max - min + 1));

/** Waits until every broker answers its health check as serving again. */
async function brokersReady(cluster: Cluster): Promise<void> {
  await Promise.all(
    cluster.brokerPorts.map((_, i) =>
      waitBrokerReady(cluster.brokerAddressOf(i), cluster.brokers[i]),
    ),
  );
}

/** Injects one fault; returns its window (from injection until whole again). */
async function inject(
  kind: FaultKind,
  cluster: Cluster,
  options: SoakOptions,
  round: number,
): Promise<FaultWindow> {
  const start = Date.now();
  switch (kind) {
    case 'worker': {
      const alive = cluster.workers.filter((w) => w.process.alive);
      const busy = alive.filter((w) => cluster.runningOn(w).length > 0);
      const victim: WorkerAgent | undefined = (busy.length > 0 ? busy : alive)[
        random(0, Math.max(0, (busy.length > 0 ? busy : alive).length - 1))
      ];
      if (victim) await victim.process.kill('SIGKILL');
      await cluster.startWorker({
        concurrency: options.concurrency,
        broker: victim?.broker ?? 0,
        spread: options.spread,
      });
      return { kind: 'kill -9 worker', start, end: Date.now(), detail: victim?.name ?? 'none' };
    }
    case 'broker': {
      const index = round % options.brokers;
      await cluster.killBroker(index);
      const downMs = random(0, 2500);
      await sleep(downMs);
      await cluster.startBroker(index);
      const which = options.brokers > 1 ? `broker ${index} ` : '';
      return {
        kind: 'kill -9 broker',
        start,
        end: Date.now(),
        detail: `${which}down ${downMs} ms`,
      };
    }
    case 'net': {
      const downMs = random(100, 2500);
      for (const proxy of cluster.proxies) proxy.cut();
      await sleep(downMs);
      for (const proxy of cluster.proxies) proxy.restore();
      return { kind: 'cut connections', start, end: Date.now(), detail: `${downMs} ms` };
    }
    case 'redis': {
      await cluster.redis.kill();
      const downMs = random(100, 2000);
      await sleep(downMs);
      await cluster.redis.restart();
      await brokersReady(cluster);
      return { kind: 'kill -9 redis', start, end: Date.now(), detail: `down ${downMs} ms` };
    }
    case 'stall': {
      const { pid } = cluster.redis;
      const stallMs = random(2500, 5000);
      if (pid !== undefined) process.kill(pid, 'SIGSTOP');
      try {
        await sleep(stallMs);
      } finally {
        if (pid !== undefined) process.kill(pid, 'SIGCONT');
      }
      await brokersReady(cluster);
      return { kind: STALL, start, end: Date.now(), detail: `${stallMs} ms` };
    }
  }
}

interface ReplayOutcome {
  /** When the replay began. */
  readonly at: number;
  /** Jobs DEAD before it. */
  readonly dead: number;
  readonly replayed: number;
  readonly attemptsBefore: ReadonlyMap<string, number>;
  readonly violations: string[];
}

/**
 * Checks the jobs that went DEAD, heals the agents, replays every dead letter
 * and settles the replayed jobs again; `records` gets their new state.
 */
async function replayPoison(
  cluster: Cluster,
  mix: MixedWorkload,
  load: LoadGenerator,
  records: Map<string, JobInfo | undefined>,
  faults: readonly FaultWindow[],
): Promise<ReplayOutcome> {
  const violations = mix.checkBeforeReplay(load.acked, records, faults);
  const dead: AckedJob[] = load.acked.filter((a) => records.get(a.jobId)?.state === 'DEAD');
  const attemptsBefore = new Map(dead.map((a) => [a.jobId, records.get(a.jobId)!.attempts]));
  await cluster.healPoison();
  const at = Date.now();
  const admin = new Admin({ address: cluster.brokerAddress, timeoutMs: 10_000 });
  let replayed = 0;
  try {
    for (const tenant of new Set(load.acked.map((a) => a.tenant))) {
      replayed += (await admin.replayDeadLetters(tenant, 'faults', 'all')).replayed;
    }
  } finally {
    admin.close();
  }
  if (replayed !== dead.length) {
    violations.push(`the replay took ${replayed} dead letters, but ${dead.length} jobs read DEAD`);
  }
  const after = await settle(load.producer, dead, { timeoutMs: 30_000, intervalMs: 250 });
  for (const [jobId, info] of after) records.set(jobId, info);
  console.log(`soak: replayed ${replayed} dead letters after healing the agents`);
  return { at, dead: dead.length, replayed, attemptsBefore, violations };
}

function table(rows: ReadonlyArray<readonly [string, string | number]>): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  const valueWidth = Math.max(...rows.map(([, v]) => String(v).length));
  const line = `+${'-'.repeat(width + 2)}+${'-'.repeat(valueWidth + 2)}+`;
  return [
    line,
    ...rows.map(([k, v]) => `| ${k.padEnd(width)} | ${String(v).padStart(valueWidth)} |`),
    line,
  ].join('\n');
}

/**
 * globex's cap under --limits: 4, or twice the handlers its third of the load
 * keeps busy, so long jobs do not leave it a backlog the settle cannot drain.
 */
function cappedTenant(rate: number, jobMs: readonly [number, number]): number {
  const busy = ((rate / 3) * (jobMs[0] + jobMs[1])) / 2 / 1000;
  return Math.max(4, Math.ceil(2 * busy));
}

/** initech's limit under --limits: half again its share of the load, so it falls behind only in outages. */
function limitedTenant(rate: number): { rate: number; burst: number } {
  return { rate: Math.max(1, Math.round((1.5 * rate) / 3)), burst: 5 };
}

/** The window the rate check slides over the limited tenant's starts. */
const RATE_WINDOW_MS = 1000;
/**
 * Leeway for the time between a dispatch (where the bucket counts) and the
 * handler's start (what the journal records): deliveries spread over a little
 * more than a window can start within one.
 */
const START_JITTER_MS = 250;

/** Most starts of the tenant in any RATE_WINDOW_MS, and the most its rate allows. */
function busiestWindow(
  journal: readonly JournalRecord[],
  tenant: string,
  limit: { rate: number; burst: number },
): { starts: number; allowed: number } {
  const times = journal.filter((r) => r.ev === 'start' && r.tenant === tenant).map((r) => r.t);
  let starts = 0;
  for (let first = 0, last = 0; last < times.length; last++) {
    while (times[last]! - times[first]! >= RATE_WINDOW_MS) first++;
    starts = Math.max(starts, last - first + 1);
  }
  const allowed = Math.ceil((limit.rate * (RATE_WINDOW_MS + START_JITTER_MS)) / 1000) + limit.burst;
  return { starts, allowed };
}

/**
 * How long the brokers' holdings of an in-flight cap may stay overdrawn after
 * a fault (README, "In-flight caps"): a dead broker's holding lapses in 3 s,
 * and holdings are renewed, and learn who waits, every second.
 */
const CAP_CONVERGENCE_MS = 4000;

/** A handler run in the journal: job, attempt and agent. */
const runKey = (r: JournalRecord): string => `${r.job}/${r.attempt}/${r.agent}`;

/**
 * Handler runs whose lease was lost under them: aborted (the lease was
 * revoked, or refused at a re-attach), or still running when the job started
 * again (the later start holds the job's current lease). At-least-once
 * delivery accepts such a run (DESIGN.md, lease protocol 4-5): its lease
 * expired, the broker no longer counts it against the cap, and it may run
 * on beside the job's next attempt.
 */
function staleRuns(journal: readonly JournalRecord[]): Set<string> {
  const stale = new Set<string>();
  const open = new Map<string, Set<string>>();
  for (const r of journal) {
    if (r.job === undefined) continue;
    const runs = open.get(r.job) ?? new Set<string>();
    open.set(r.job, runs);
    if (r.ev === 'start') {
      for (const run of runs) stale.add(run);
      runs.add(runKey(r));
    } else if (r.ev === 'end' || r.ev === 'fail' || r.ev === 'aborted') {
      runs.delete(runKey(r));
      if (r.ev === 'aborted') stale.add(runKey(r));
    }
  }
  return stale;
}

/**
 * Most handlers of the tenant running at once, counted only outside faults,
 * and never the runs whose lease was lost (staleRuns): a fault may leave the
 * brokers' holdings overdrawn for up to `graceMs` after it. Not a Redis stall:
 * Redis checks each lease against the holdings as it writes it (lease.lua). A
 * worker killed takes its handlers with it.
 */
function mostRunningAtOnce(
  journal: readonly JournalRecord[],
  tenant: string,
  faults: readonly FaultWindow[],
  graceMs: number,
  brokerOf: ReadonlyMap<string, number>,
): { running: number; at: number | undefined; byBroker: number[]; runs: string[] } {
  const killedAt = faults
    .filter((f) => f.kind === 'kill -9 worker' && f.detail !== undefined)
    .map((f) => ({ t: f.start, agent: f.detail! }));
  const stale = staleRuns(journal);
  /** Run → when it started. */
  const running = new Map<string, number>();
  let most = {
    running: 0,
    at: undefined as number | undefined,
    byBroker: [] as number[],
    runs: [] as string[],
  };
  let nextKill = 0;
  for (const r of journal) {
    while (nextKill < killedAt.length && killedAt[nextKill]!.t <= r.t) {
      const { agent } = killedAt[nextKill++]!;
      for (const key of running.keys()) if (key.endsWith(`/${agent}`)) running.delete(key);
    }
    if (r.job === undefined) continue;
    const key = runKey(r);
    if (r.ev === 'start') {
      if (r.tenant !== tenant || stale.has(key)) continue;
      running.set(key, r.t);
      const excused = faults.some(
        (f) => f.kind !== STALL && r.t >= f.start && r.t <= f.end + graceMs,
      );
      if (!excused && running.size > most.running) {
        const byBroker: number[] = [];
        const runs: string[] = [];
        for (const [held, startedAt] of running) {
          const broker = brokerOf.get(held.slice(held.lastIndexOf('/') + 1)) ?? 0;
          byBroker[broker] = (byBroker[broker] ?? 0) + 1;
          runs.push(`${held} (broker ${broker}) since ${new Date(startedAt).toISOString()}`);
        }
        most = { running: running.size, at: r.t, byBroker, runs };
      }
    } else if (r.ev === 'end' || r.ev === 'fail' || r.ev === 'aborted') {
      running.delete(key);
    }
  }
  return most;
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const limit = limitedTenant(options.rate);
  const cap = cappedTenant(options.rate, options.jobMs);
  console.log(`soak: ${JSON.stringify(options)}`);
  const cluster = await Cluster.start({
    appendfsync: 'always',
    proxy: true,
    logLevel: 'warn',
    keepDir: options.keepLogs,
    brokers: options.brokers,
  });
  let interrupted = false;
  const onSignal = (): void => {
    interrupted = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let load: LoadGenerator | undefined;
  try {
    if (options.limits) {
      const admin = new Admin({ address: cluster.brokerAddress, timeoutMs: 10_000 });
      await admin.setTenant('globex', { maxInFlight: cap });
      await admin.setTenant('initech', limit);
      admin.close();
    }
    await Promise.all(
      Array.from({ length: options.workers }, (_, i) =>
        cluster.startWorker({
          concurrency: options.concurrency,
          broker: i % options.brokers,
          spread: options.spread,
        }),
      ),
    );
    const mix = options.mix ? new MixedWorkload() : undefined;
    const lanes = 8;
    load = new LoadGenerator({
      address: cluster.brokerAddress,
      addresses: cluster.brokerPorts.map((_, i) =>
        options.spread ? cluster.brokerTargetFrom(i) : cluster.brokerAddressOf(i),
      ),
      ...(mix ? { shapeJob: mix.shapeJob, onAcked: mix.onAcked } : {}),
      total: Number.MAX_SAFE_INTEGER,
      concurrency: lanes,
      pauseMs: Math.max(0, (lanes * 1000) / options.rate - 3),
      jobMs: options.jobMs,
      giveUpMs: 60_000,
      keyPrefix: `soak-${Date.now().toString(36)}`,
    });
    const started = Date.now();
    const endAt = started + options.durationS * 1000;
    const faults: FaultWindow[] = [];
    let next = 0;
    while (Date.now() < endAt && !interrupted) {
      const wakeAt = Math.min(endAt, Date.now() + options.faultEveryS * 1000);
      while (Date.now() < wakeAt && !interrupted) await sleep(Math.min(250, wakeAt - Date.now()));
      if (Date.now() >= endAt || interrupted || options.faults.length === 0) break;
      const kind = options.faults[next++ % options.faults.length]!;
      const brokerFaults = faults.filter((f) => f.kind === 'kill -9 broker').length;
      const window = await inject(kind, cluster, options, brokerFaults);
      faults.push(window);
      console.log(
        `[${((Date.now() - started) / 1000).toFixed(1)} s] ${window.kind} (${window.detail}), whole again after ${window.end - window.start} ms; acked ${load.acked.length}, started ${startCount(cluster.journal())}`,
      );
    }
    load.stop();
    await load.done;
    await mix?.drain();
    const producedS = (Date.now() - started) / 1000;
    console.log(
      `soak: producing stopped after ${producedS.toFixed(1)} s; settling (≤ ${options.settleS} s)…`,
    );
    const records = await settle(load.producer, load.acked, {
      timeoutMs: options.settleS * 1000,
      intervalMs: 500,
    });
    const replay = mix ? await replayPoison(cluster, mix, load, records, faults) : undefined;
    const journal = cluster.journal();
    const report = checkInvariants({
      acked: load.acked,
      records,
      journal,
      faults,
      ...(mix
        ? { expected: mix.expectedStates(load.acked), attemptsBefore: replay!.attemptsBefore }
        : {}),
    });
    if (mix && replay) {
      report.violations.push(
        ...replay.violations,
        ...mix.check({ acked: load.acked, records, journal, faults, replayedAt: replay.at }),
      );
    }
    const limited = options.limits ? busiestWindow(journal, 'initech', limit) : undefined;
    const capped = options.limits
      ? mostRunningAtOnce(
          journal,
          'globex',
          faults,
          options.jobMs[1] + 2 * cluster.leaseTtlMs + CAP_CONVERGENCE_MS,
          new Map(cluster.workers.map((w) => [w.name, w.broker])),
        )
      : undefined;
    if (capped && capped.running > cap) {
      report.violations.push(
        `globex (max_in_flight ${cap}) ran ${capped.running} jobs at once at ${new Date(capped.at!).toISOString()}, outside any fault but a Redis stall (by broker: ${capped.byBroker.join(', ')}; job/attempt/agent: ${capped.runs.join('; ')})`,
      );
    }
    if (limited && limited.starts > limited.allowed) {
      report.violations.push(
        `initech (rate ${limit.rate}/s, burst ${limit.burst}) started ${limited.starts} jobs in ${RATE_WINDOW_MS / 1000} s; its limit allows ${limited.allowed}`,
      );
    }
    const left = await leftovers(cluster.brokerAddress, 'faults');
    if (left.length > 0) {
      report.violations.push(
        `state left behind after every job ended (Admin.GetStats): ${JSON.stringify(left)}`,
      );
    }
    const moves = reattachments(journal);
    const byKind = new Map<string, number>();
    for (const f of faults) byKind.set(f.kind, (byKind.get(f.kind) ?? 0) + 1);
    const result = {
      options,
      startedAt: new Date(started).toISOString(),
      producedSeconds: producedS,
      enqueued: report.acknowledged,
      completed: report.completed,
      dead: report.dead,
      cancelled: report.cancelled,
      duplicated: report.duplicates.length,
      unexplainedDuplicates: report.unexplainedDuplicates.length,
      lost: report.lost.filter((l) => l.state === 'NOT_FOUND').length,
      stuck: report.lost.filter((l) => l.state !== 'NOT_FOUND').length,
      deadBeforeReplay: replay?.dead,
      replayed: replay?.replayed,
      mix: mix?.counts(load.acked),
      neverRan: report.neverRan.length,
      enqueueRetries: load.retries,
      ackedAsDuplicate: load.acked.filter((a) => a.duplicate).length,
      enqueueGaveUp: load.unacked.length,
      enqueueAnomalies: load.anomalies.length,
      jobStarts: startCount(journal),
      leasesReattached: moves.reattached,
      leasesRefusedAtReconnect: moves.refused,
      limitedTenantBusiestWindow: limited,
      cappedTenantMostRunning: capped,
      faults: faults.map((f) => ({ ...f, ms: f.end - f.start })),
      faultsByKind: Object.fromEntries(byKind),
      violations: report.violations,
      leftovers: left,
      lostJobs: report.lost.slice(0, 100),
      anomalies: load.anomalies.slice(0, 100),
      logs: options.keepLogs ? cluster.dir : undefined,
    };
    console.log(
      '\n' +
        table([
          ['jobs enqueued (acknowledged)', result.enqueued],
          ['completed', result.completed],
          ['dead', result.dead],
          ['cancelled', result.cancelled],
          ...(replay
            ? ([
                ['dead before the replay', replay.dead],
                ['dead letters replayed', replay.replayed],
              ] as const)
            : []),
          ...Object.entries(result.mix ?? {}).map(([k, v]): [string, number] => [`  mix: ${k}`, v]),
          ['duplicated (ran > once)', result.duplicated],
          ['  of which unexplained by a fault', result.unexplainedDuplicates],
          ['lost', result.lost],
          ['stuck (not terminal after the settle)', result.stuck],
          ['enqueue retries', result.enqueueRetries],
          ['acked as duplicate on retry', result.ackedAsDuplicate],
          ['enqueues given up', result.enqueueGaveUp],
          ['enqueue anomalies (bad status)', result.enqueueAnomalies],
          ['job starts', result.jobStarts],
          ['leases re-attached at a reconnect', result.leasesReattached],
          ['  refused there (no longer current)', result.leasesRefusedAtReconnect],
          ...(limited
            ? [
                [
                  `initech starts in its busiest ${RATE_WINDOW_MS / 1000} s (≤ ${limited.allowed})`,
                  limited.starts,
                ] as const,
              ]
            : []),
          ...(capped
            ? [
                [
                  `globex jobs running at once, outside faults but stalls (≤ ${cap})`,
                  capped.running,
                ] as const,
              ]
            : []),
          ['faults injected', faults.length],
          ...[...byKind].map(([kind, n]): [string, number] => [`  ${kind}`, n]),
          ['throughput (jobs/s enqueued)', (result.enqueued / producedS).toFixed(1)],
        ]),
    );
    if (result.violations.length > 0)
      console.log(`\nviolations:\n- ${result.violations.join('\n- ')}`);
    const dir = path.join(REPO_ROOT, 'bench', 'results');
    await mkdir(dir, { recursive: true });
    const file = path.join(
      dir,
      `soak-${new Date(started).toISOString().replace(/[:.]/g, '-')}.json`,
    );
    await writeFile(file, JSON.stringify(result, null, 2) + '\n');
    console.log(
      `\nsoak: wrote ${path.relative(process.cwd(), file)}${options.keepLogs ? `; logs in ${cluster.dir}` : ''}`,
    );
    return result.lost > 0 || result.violations.length > 0 ? 1 : 0;
  } finally {
    load?.abort();
    await load?.close().catch(() => undefined);
    const left = await cluster.dispose();
    if (left.length > 0)
      console.error(`soak: processes still alive after cleanup: ${left.join(', ')}`);
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(
      `soak: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    process.exit(1);
  },
);
