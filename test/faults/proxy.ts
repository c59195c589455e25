/**
 * A TCP proxy on 127.0.0.1 between workers and the broker (or a broker and
 * Redis), to cut their connections: `cut()` destroys every open connection
 * (both sides) and turns new ones away until `restore()`; the listening port
 * never changes, so clients reconnect to the same address. `cutWhenSent` cuts
 * at an exact point of a conversation: before a given request reaches the
 * server.
 */
import net from 'node:net';
import { Transform } from 'node:stream';

/** Bytes of a connection kept to match a pattern split across two reads. */
const MATCH_TAIL = 256;

export class TcpProxy {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  #upstreamPort: number;
  #down = false;
  #trigger: { pattern: RegExp; fired: () => void } | undefined;
  /** Connections accepted and forwarded, connections turned away while cut. */
  accepted = 0;
  refused = 0;

  private constructor(server: net.Server, upstreamPort: number) {
    this.#server = server;
    this.#upstreamPort = upstreamPort;
  }

  static async start(upstreamPort: number): Promise<TcpProxy> {
    const server = net.createServer();
    const proxy = new TcpProxy(server, upstreamPort);
    server.on('connection', (socket) => proxy.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  get port(): number {
    const address = this.#server.address();
    if (typeof address !== 'object' || address === null) throw new Error('proxy not listening');
    return address.port;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get isCut(): boolean {
    return this.#down;
  }

  /** Open connections (client side and upstream side count separately). */
  get openSockets(): number {
    return this.#sockets.size;
  }

  /** Point new connections at another upstream port (e.g. a restarted broker). */
  retarget(upstreamPort: number): void {
    this.#upstreamPort = upstreamPort;
  }

  /** Destroys every connection and refuses new ones until restore(). */
  cut(): void {
    this.#down = true;
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  restore(): void {
    this.#down = false;
  }

  /**
   * Cuts (as `cut()`) as soon as a client sends bytes matching `pattern`
   * (read as latin1), before they are forwarded; resolves then. One cut.
   */
  cutWhenSent(pattern: RegExp): Promise<void> {
    return new Promise((fired) => (this.#trigger = { pattern, fired }));
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: net.Socket): void {
    if (this.#down) {
      this.refused++;
      client.resetAndDestroy();
      return;
    }
    this.accepted++;
    const upstream = net.connect({ host: '127.0.0.1', port: this.#upstreamPort });
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.setNoDelay(true);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        this.#sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    let tail = '';
    const watch = new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        const trigger = this.#trigger;
        if (trigger) {
          const seen = tail + chunk.toString('latin1');
          if (trigger.pattern.test(seen)) {
            this.#trigger = undefined;
            this.cut();
            trigger.fired();
            done();
            return;
          }
          tail = seen.slice(-MATCH_TAIL);
        }
        done(null, chunk);
      },
    });
    client.pipe(watch).pipe(upstream);
    upstream.pipe(client);
  }
}
