/**
 * A TCP proxy on 127.0.0.1 that can go silent the way a broker host that lost
 * power or its network does: `stall()` stops forwarding on the connections
 * open then, without closing them (no FIN, no reset), and later connections
 * are forwarded as usual.
 */
import net from 'node:net';

export interface StallingProxy {
  readonly address: string;
  stall(): void;
  close(): void;
}

export async function startStallingProxy(upstreamAddress: string): Promise<StallingProxy> {
  const upstreamPort = Number(upstreamAddress.split(':').at(-1));
  const open = new Set<net.Socket>();
  const stalled = new Set<net.Socket>();
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
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    stall() {
      for (const socket of open) {
        socket.unpipe();
        socket.pause();
        stalled.add(socket);
      }
    },
    close() {
      for (const socket of [...open, ...stalled]) socket.destroy();
      server.close();
    },
  };
}
