import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import type { Keys } from '../store/keys.js';
import type { RoomFor, RoomHeard } from './room-elsewhere.js';

export interface DoorbellHandlers {
  /**
   * A tenant has new work in a queue, runnable now or at `dueAt`, of up to
   * `priority` (undefined: the ring did not say).
   */
  onWork(
    queue: string,
    tenant: string,
    dueAt: number | undefined,
    priority: number | undefined,
  ): void;
  /** A job was cancelled; the broker holding its lease tells the worker. */
  onCancel(jobId: string): void;
  /** A worker re-attached a lease of this broker's, under `token`, to another broker (adopt.lua). */
  onLeaseMoved(jobId: string, token: string): void;
  /** A tenant's settings changed in Redis. */
  onSettings(tenant: string): void;
  /** Listening again after a reconnect: announcements sent meanwhile were lost. */
  onResubscribed(): void;
  /** Another broker has workers of the queue with free slots and nothing to give them. */
  onRoomElsewhere(queue: string, room: RoomHeard): void;
}

/**
 * A tenant's work rung in one turn: its due time (0: runnable now), and the
 * highest priority, which a broker whose buffer of the tenant is full compares
 * with the lowest it holds (see PrefetchBuffers). Absent when a ring did not
 * know it (jobs given back, dead letters replayed) or came from a broker that
 * did not send it: the receiver then reads whatever beats its buffer.
 *
 * A message holds up to two rings of a tenant: one of its work runnable now
 * and one of the earliest due time of its delayed work (delayed jobs,
 * retries). Why not one: merged into the earlier due time and the higher
 * priority, an urgent delayed job rung in the same turn as a runnable one (one
 * EnqueueBatch) was heard as urgent work runnable now. A broker whose buffer
 * of the tenant was full read at once for a job not there yet, and knew its
 * due time only from that read's answer (a read the runnable job alone, no
 * better than the buffer, did not need). A receiver takes each ring in turn,
 * so brokers of releases that merged (and sent one) and those that read one
 * ring per tenant both still work.
 */
type Ring = readonly [tenant: string, dueAt: number, priority?: number];

/** A tenant's rings to publish (see Ring): work runnable now, and its delayed work soonest due. */
interface TenantRings {
  now?: Ring;
  later?: Ring;
}

interface WorkMessage {
  readonly from: string;
  readonly work: readonly Ring[];
  /** The sender has idle workers of the queue (see announceRoom); `work` is then empty. */
  readonly room?: true;
  /** With `room`: the only tenants those workers take (dedicated workers); absent: any. */
  readonly tenants?: readonly string[];
  /** With `room`: tenants those workers do not take from another broker (RoomFor.except). */
  readonly except?: readonly string[];
}

/**
 * Redis pub/sub between brokers: an Enqueue on any broker rings the queue's
 * doorbell for the jobs it leaves in Redis (Enqueuer.enqueue), so every
 * broker serving the queue adds the tenant at once, a cancellation reaches
 * the broker that holds the lease, a lease re-attached elsewhere reaches the
 * broker that held it (announced by adopt.lua), and changed tenant settings
 * reach every broker. Rings are coalesced: one PUBLISH per queue per
 * event-loop turn, naming every tenant that got work.
 * A lost message only delays work until the dispatcher's sweep finds it.
 */
export class Doorbell {
  /** Per queue, per tenant: the rings to publish (see Ring). */
  private readonly pending = new Map<string, Map<string, TenantRings>>();
  /** Channels subscribed so far: subscribed again after each reconnect. */
  private readonly channels = new Set<string>();
  /** Of those, the ones Redis has confirmed on the current connection (see announceRoom). */
  private readonly confirmed = new Set<string>();
  /** Subscriptions sent and not yet answered, by channel: settles once answered either way. */
  private readonly subscribing = new Map<string, Promise<void>>();
  private flushScheduled = false;

  /**
   * `subscriber` must be made with `autoResubscribe: false`: ioredis's own
   * resubscription after a reconnect is a promise nobody handles, so a
   * connection closed while it was in flight (a shutdown just after Redis came
   * back) was an unhandled rejection, which ends a Node process.
   */
  constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly keys: Keys,
    private readonly brokerId: string,
    private readonly handlers: DoorbellHandlers,
    private readonly logger: Logger,
  ) {
    subscriber.on('message', (channel: string, message: string) => this.receive(channel, message));
    subscriber.on('ready', () => this.resubscribe());
    subscriber.on('close', () => this.confirmed.clear());
  }

  async start(): Promise<void> {
    await this.subscribe(
      this.keys.cancellations(),
      this.keys.movedLeases(),
      this.keys.settingsChanged(),
    );
  }

  /** Starts listening to a queue's doorbell (when this broker first serves it). */
  async listen(queue: string): Promise<void> {
    const channel = this.keys.doorbell(queue);
    if (this.channels.has(channel)) return;
    await this.subscribe(channel);
  }

  /** Stops listening to a queue's doorbell (this broker no longer serves it: ServedQueues.dropIdle). */
  unlisten(queue: string): void {
    const channel = this.keys.doorbell(queue);
    if (!this.channels.delete(channel)) return;
    this.confirmed.delete(channel);
    this.subscriber.unsubscribe(channel).catch((error: unknown) => {
      this.logger.debug({ err: error, queue }, 'could not unsubscribe from a doorbell');
    });
  }

  private async subscribe(...channels: string[]): Promise<void> {
    for (const channel of channels) this.channels.add(channel);
    await this.awaitingConfirmation(channels, this.subscriber.subscribe(...channels));
    this.confirm(channels);
  }

  /** Notes `subscribing` as the confirmation the channels wait for (see announceRoom); returns it. */
  private awaitingConfirmation<T>(
    channels: readonly string[],
    subscribing: Promise<T>,
  ): Promise<T> {
    const settled = subscribing.then(
      () => undefined,
      () => undefined,
    );
    for (const channel of channels) this.subscribing.set(channel, settled);
    void settled.then(() => {
      for (const channel of channels) {
        if (this.subscribing.get(channel) === settled) this.subscribing.delete(channel);
      }
    });
    return subscribing;
  }

  private confirm(channels: Iterable<string>): void {
    for (const channel of channels) if (this.channels.has(channel)) this.confirmed.add(channel);
  }

  /**
   * After a reconnect: the work and the cancellations missed meanwhile are
   * found by onResubscribed (a sweep, a look at the leases), the settings by
   * their reload.
   */
  private resubscribe(): void {
    if (this.channels.size === 0) return;
    const channels = [...this.channels];
    this.awaitingConfirmation(channels, this.subscriber.subscribe(...channels)).then(
      () => {
        this.confirm(channels);
        this.handlers.onResubscribed();
      },
      (error: unknown) => {
        this.logger.warn(
          { err: error },
          'could not subscribe again after a reconnect; the next reconnect tries again',
        );
      },
    );
  }

  /**
   * A PING on the pub/sub connection. Once subscribed it sends nothing, and
   * only a command owing a reply arms the connection's timeout: one that went
   * silent (a NAT or firewall dropped it while idle) was never noticed, and
   * every doorbell, cancellation and settings change after that was lost until
   * the process restarted. Unanswered, the timeout closes it, and the
   * reconnect subscribes again.
   */
  ping(): void {
    if (this.subscriber.status !== 'ready') return;
    this.subscriber.ping().catch(() => undefined); // the reconnect says enough
  }

  /** Work of `tenant` runnable at `dueAt` (0: now), of `priority` (undefined: not known). */
  ring(queue: string, tenant: string, dueAt: number, priority?: number): void {
    let tenants = this.pending.get(queue);
    if (!tenants) {
      tenants = new Map();
      this.pending.set(queue, tenants);
    }
    let rings = tenants.get(tenant);
    if (!rings) {
      rings = {};
      tenants.set(tenant, rings);
    }
    const kind = dueAt === 0 ? 'now' : 'later';
    const known = rings[kind];
    rings[kind] = known ? merged(known, dueAt, priority) : ring(tenant, dueAt, priority);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /**
   * Tells the other brokers of these queues that this one has workers with
   * free slots and nothing to give them, and whom they take, so a broker whose
   * own workers are busy leaves newly arrived jobs to them and hands over
   * those it read ahead (QueueDispatcher.roomElsewhere).
   * `work` is empty, so a broker that knows no `room` reads a ring of nothing.
   * Only the doorbells another broker listens to are rung, found by one
   * PUBSUB NUMSUB for all: a broker alone published a message per queue each
   * second that only it heard (a thousand a second for a thousand idle queues).
   */
  announceRoom(rooms: ReadonlyArray<readonly [queue: string, room: RoomFor]>): void {
    if (rooms.length === 0) return;
    const channels = rooms.map(([queue]) => this.keys.doorbell(queue));
    const messages = rooms.map(([, { tenants, except }]) => {
      const room: WorkMessage = { from: this.brokerId, work: [], room: true, tenants, except };
      return JSON.stringify(room);
    });
    // Whether NUMSUB counts this broker's own subscription is known once Redis
    // has answered it: a worker's first announcement follows its Hello, while
    // the doorbell's subscription may still be on its way.
    const confirming = channels.flatMap((channel) => this.subscribing.get(channel) ?? []);
    // A lost announcement only costs a job its read-ahead here.
    void Promise.all(confirming)
      .then(() => this.publisher.pubsub('NUMSUB', ...channels))
      .then(
        (reply) => {
          const counts = reply as Array<string | number>;
          channels.forEach((channel, i) => {
            const own = this.ownListeners(channel);
            if (own === undefined || Number(counts[2 * i + 1]) - own < 1) return;
            this.publisher.publish(channel, messages[i]!).catch(() => undefined);
          });
        },
        () => undefined,
      );
  }

  /**
   * 1 when this broker's own subscription is counted among a channel's
   * listeners, 0 when it does not listen there; undefined while that is not
   * known (a subscription sent and not yet confirmed: just subscribed, or
   * after a reconnect), when the announcement waits for the next second's.
   * Counted as 0 then, a broker alone announced to itself whenever Redis had
   * taken its SUBSCRIBE before the NUMSUB but the reply was still on its way.
   */
  private ownListeners(channel: string): number | undefined {
    if (this.subscriber.status === 'ready' && this.confirmed.has(channel)) return 1;
    return this.channels.has(channel) ? undefined : 0;
  }

  announceCancel(jobId: string): void {
    this.publisher.publish(this.keys.cancellations(), jobId).catch((error: unknown) => {
      this.logger.warn({ err: error, jobId }, 'could not announce a cancellation');
    });
  }

  /** Publishes the rings pending now (they otherwise go at the end of this event-loop turn). */
  flush(): void {
    this.flushScheduled = false;
    for (const [queue, tenants] of this.pending) {
      const work: Ring[] = [];
      for (const { now, later } of tenants.values()) {
        if (now) work.push(now);
        if (later) work.push(later);
      }
      const message: WorkMessage = { from: this.brokerId, work };
      this.publisher
        .publish(this.keys.doorbell(queue), JSON.stringify(message))
        .catch((error: unknown) => {
          this.logger.warn(
            { err: error, queue },
            'could not ring a doorbell; the sweep will find the work',
          );
        });
    }
    this.pending.clear();
  }

  /** A lease moved: only the broker it left has anything to let go of. */
  private receiveMove(message: string): void {
    try {
      const { holder, job, token } = JSON.parse(message) as LeaseMove;
      if (holder === this.brokerId) this.handlers.onLeaseMoved(job, token);
    } catch (error) {
      this.logger.warn({ err: error }, 'ignored a malformed announcement of a moved lease');
    }
  }

  private receive(channel: string, message: string): void {
    if (channel === this.keys.cancellations()) {
      this.handlers.onCancel(message);
      return;
    }
    if (channel === this.keys.movedLeases()) {
      this.receiveMove(message);
      return;
    }
    if (channel === this.keys.settingsChanged()) {
      this.handlers.onSettings(message);
      return;
    }
    const queue = channel.slice(this.keys.doorbell('').length);
    try {
      const parsed = JSON.parse(message) as WorkMessage;
      if (parsed.from === this.brokerId) return;
      if (parsed.room) {
        const { from, tenants, except } = parsed;
        this.handlers.onRoomElsewhere(queue, {
          from: String(from),
          tenants: Array.isArray(tenants) ? tenants : undefined,
          except: Array.isArray(except) ? except : undefined,
        });
      }
      for (const [tenant, dueAt, priority] of parsed.work)
        this.handlers.onWork(queue, tenant, dueAt || undefined, priority);
    } catch (error) {
      this.logger.warn({ err: error, channel }, 'ignored a malformed doorbell message');
    }
  }
}

/** A lease adopt.lua moved from `holder` to another broker. */
interface LeaseMove {
  readonly holder: string;
  readonly job: string;
  readonly token: string;
}

function ring(tenant: string, dueAt: number, priority: number | undefined): Ring {
  return priority === undefined ? [tenant, dueAt] : [tenant, dueAt, priority];
}

/** Two rings of a tenant's work of one kind in one: the earlier due time, the higher priority (not known if either is not). */
function merged([tenant, dueAt, priority]: Ring, nextDueAt: number, nextPriority?: number): Ring {
  const highest =
    priority === undefined || nextPriority === undefined
      ? undefined
      : Math.max(priority, nextPriority);
  return ring(tenant, Math.min(dueAt, nextDueAt), highest);
}
