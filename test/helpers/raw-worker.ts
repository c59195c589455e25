/**
 * A worker speaking the Work protocol message by message over a raw stub, so
 * tests can do what the Worker client never would (go silent, ack twice, send
 * stale tokens).
 */
import type * as grpc from '@grpc/grpc-js';
import type { BrokerMessage__Output } from '../../src/generated/rota/v1/BrokerMessage.js';
import type { Hello } from '../../src/generated/rota/v1/Hello.js';
import type { Lease__Output } from '../../src/generated/rota/v1/Lease.js';
import type { Welcome__Output } from '../../src/generated/rota/v1/Welcome.js';
import type { WorkerMessage } from '../../src/generated/rota/v1/WorkerMessage.js';
import { eventually, rawClients } from './broker.js';

export class RawWorker {
  readonly messages: BrokerMessage__Output[] = [];
  readonly leases: Lease__Output[] = [];
  status: grpc.StatusObject | undefined;
  ended = false;
  private taken = 0;
  private heartbeats: NodeJS.Timeout | undefined;

  private constructor(
    private readonly stream: grpc.ClientDuplexStream<WorkerMessage, BrokerMessage__Output>,
    private readonly closeClients: () => void,
  ) {
    stream.on('data', (message: BrokerMessage__Output) => {
      this.messages.push(message);
      if (message.leases) this.leases.push(...message.leases.leases);
    });
    stream.on('status', (status: grpc.StatusObject) => {
      this.status = status;
    });
    stream.on('error', () => {
      this.ended = true;
    });
    stream.on('end', () => {
      this.ended = true;
    });
  }

  /** Opens a stream and sends Hello; does not wait for Welcome. */
  static open(address: string, hello?: Hello): RawWorker {
    const clients = rawClients(address);
    const worker = new RawWorker(clients.broker.Work(), () => clients.close());
    if (hello) worker.send({ hello });
    return worker;
  }

  /** Opens a stream, says Hello and waits for Welcome; then heartbeats every 200 ms unless told not to. */
  static async connect(
    address: string,
    hello: Hello,
    { heartbeat = true } = {},
  ): Promise<RawWorker> {
    const worker = RawWorker.open(address, {
      worker_id: 'raw',
      capacity: 10,
      protocol_version: 1,
      ...hello,
    });
    await worker.welcome();
    if (heartbeat) worker.startHeartbeats();
    return worker;
  }

  startHeartbeats(): void {
    this.heartbeats = setInterval(() => this.heartbeat(), 200);
  }

  /** Goes silent, as a hung worker would. */
  stopHeartbeats(): void {
    clearInterval(this.heartbeats);
  }

  send(message: WorkerMessage): void {
    this.stream.write(message);
  }

  welcome(): Promise<Welcome__Output> {
    return eventually(() => this.messages.find((m) => m.welcome)?.welcome ?? undefined);
  }

  /** Waits for `count` leases not yet taken, and takes them. */
  async take(count: number, timeoutMs = 10_000): Promise<Lease__Output[]> {
    await eventually(() => (this.leases.length - this.taken >= count ? true : undefined), {
      timeoutMs,
    });
    const taken = this.leases.slice(this.taken, this.taken + count);
    this.taken += count;
    return taken;
  }

  complete(lease: Pick<Lease__Output, 'job_id' | 'lease_token'>, result = Buffer.alloc(0)): void {
    this.send({ complete: { job_id: lease.job_id, lease_token: lease.lease_token, result } });
  }

  fail(lease: Lease__Output, message: string, retryable = true, retryAfterMs = 0): void {
    this.send({
      fail: {
        job_id: lease.job_id,
        lease_token: lease.lease_token,
        message,
        retryable,
        retry_after_ms: retryAfterMs,
      },
    });
  }

  heartbeat(): void {
    this.send({ heartbeat: {} });
  }

  cancels(): string[] {
    return this.messages.filter((m) => m.cancel).map((m) => m.cancel!.job_id);
  }

  ackOutcomes(): Array<{ job_id: string; status: string; message: string }> {
    return this.messages.flatMap((m) => m.ack_result?.outcomes ?? []);
  }

  async waitStatus(): Promise<grpc.StatusObject> {
    return eventually(() => this.status);
  }

  /** Half-closes the stream (a graceful goodbye). */
  end(): void {
    this.stopHeartbeats();
    this.stream.end();
  }

  /** Drops the connection without a goodbye. */
  drop(): void {
    this.stopHeartbeats();
    this.stream.cancel();
    this.closeClients();
  }
}

/** Completes every lease as it arrives and records the tenants in dispatch order. */
export function autoComplete(worker: RawWorker): { order: string[]; stop(): void } {
  const order: string[] = [];
  let done = 0;
  const timer = setInterval(() => {
    const fresh = worker.leases.slice(done);
    done = worker.leases.length;
    for (const lease of fresh) {
      order.push(lease.tenant);
      worker.complete(lease);
    }
  }, 2);
  return { order, stop: () => clearInterval(timer) };
}
