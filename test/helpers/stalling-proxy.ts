/**
 * A TCP proxy on 127.0.0.1 that can go silent the way a broker host that lost
 * power or its network does: `stall()` stops forwarding on the connections
 * open then, without closing them (no FIN, no reset), and later connections
 * are forwarded as usual. `loseReply()` loses one reply the way a connection
 * that drops (or goes silent) between a request and its reply does.
 * `switchTo()` sends later connections to another upstream, as a failover
 * that moves an address does.
 */
import net from 'node:net';

export interface StallingProxy {
  readonly address: string;
  stall(): void;
  /**
   * The next request that contains `marker` reaches the upstream, and the
   * first bytes the upstream sends back after it (its reply, so the upstream
   * has acted on it) are dropped. Then that connection is cut (`'cut'`: both
   * sides closed) or goes silent (`'stall'`, as stall() does). Resolves then.
   */
  loseReply(marker: Buffer, then: 'cut' | 'stall'): Promise<void>;
  /** New connections go to `port` on 127.0.0.1; open ones stay where they are. */
  switchTo(port: number): void;
  close(): void;
}

export async function startStallingProxy(upstreamAddress: string): Promise<StallingProxy> {
  let upstreamPort = Number(upstreamAddress.split(':').at(-1));
  const open = new Set<net.Socket>();
  const stalled = new Set<net.Socket>();
  const stallSocket = (socket: net.Socket): void => {
    socket.unpipe();
    socket.pause();
    stalled.add(socket);
  };
  let armed: { marker: Buffer; then: 'cut' | 'stall'; lost: () => void } | undefined;
  const server = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        open.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    let losing: typeof armed;
    let lost = false;
    client.on('data', (chunk: Buffer) => {
      if (armed !== undefined && chunk.includes(armed.marker)) {
        losing = armed;
        armed = undefined;
      }
    });
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (lost) return;
      if (losing === undefined) {
        client.write(chunk);
        return;
      }
      lost = true;
      if (losing.then === 'cut') {
        client.destroy();
        upstream.destroy();
      } else {
        for (const socket of [client, upstream]) stallSocket(socket);
      }
      losing.lost();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    stall() {
      for (const socket of open) stallSocket(socket);
    },
    loseReply: (marker, then) => new Promise((lost) => (armed = { marker, then, lost })),
    switchTo: (next) => (upstreamPort = next),
    close() {
      for (const socket of [...open, ...stalled]) socket.destroy();
      server.close();
    },
  };
}
