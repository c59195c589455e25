import { once } from 'node:events';
import { connect } from 'node:net';

/**
 * MONITOR over a plain socket: each line's quoted arguments go to `onCommand`.
 * Not ioredis's monitor(): lines still in flight when it disconnected reached
 * its command queue as replies ("Command queue state error", uncaught, one
 * per line), which failed a later test of this file.
 */
export async function monitor(
  port: number,
  onCommand: (args: string[]) => void,
): Promise<() => void> {
  const socket = connect(port, '127.0.0.1');
  socket.setEncoding('utf8');
  await once(socket, 'connect');
  let started = false;
  let pending = '';
  const ready = new Promise<void>((resolve) => {
    socket.on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\r\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (!started && line === '+OK') {
          started = true;
          resolve();
        } else if (line.startsWith('+')) {
          onCommand([...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map(([, arg]) => arg!));
        }
      }
    });
  });
  socket.write('MONITOR\r\n');
  await ready;
  return () => socket.destroy();
}
