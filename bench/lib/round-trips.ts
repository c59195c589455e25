/**
 * Round trips timed one after another, a fixed gap apart: what one hop of a
 * transport costs on this machine when both ends are mostly idle, as each hop
 * of a job is at a steady low rate. The latency scenario reports them beside
 * its figures: a Rota job crosses three one-way gRPC hops (producer → broker →
 * worker → broker), a BullMQ job only Redis round trips.
 */
import { fileURLToPath } from 'node:url';

import * as grpc from '@grpc/grpc-js';
import { service as health } from 'grpc-health-check';

import { spawnTracked, terminate } from './children.js';
import { sleep } from './context.js';
import { distribution, type Distribution } from './stats.js';

const WARM_UP_CALLS = 100;

/** `count` calls of `call`, each after the last has answered and `gapMs` has passed (untimed warm-up first). */
export async function timeRoundTrips(
  call: () => Promise<unknown>,
  count: number,
  gapMs: number,
): Promise<Distribution> {
  for (let i = 0; i < WARM_UP_CALLS; i++) await call();
  const ms: number[] = [];
  for (let i = 0; i < count; i++) {
    await sleep(gapMs);
    const start = performance.now();
    await call();
    ms.push(performance.now() - start);
  }
  return distribution(ms);
}

/** Round trips of a bare grpc-js unary call to a server in a process of its own (agents/grpc-echo.ts). */
export async function grpcRoundTrips(count: number, gapMs: number): Promise<Distribution> {
  const file = fileURLToPath(new URL('../agents/grpc-echo.ts', import.meta.url));
  const server = spawnTracked(process.execPath, ['--import', 'tsx', file], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  try {
    const port = await new Promise<string>((resolve, reject) => {
      server.stdout!.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
      server.once('exit', (code) => reject(new Error(`the gRPC echo server exited (${code})`)));
    });
    // The health service's own method definition: serializers, no proto loading here.
    const { path, requestSerialize, responseDeserialize } = health.Check!;
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      const check = (): Promise<void> =>
        new Promise((resolve, reject) =>
          client.makeUnaryRequest(
            path,
            requestSerialize,
            responseDeserialize,
            { service: '' },
            (error) => (error ? reject(error) : resolve()),
          ),
        );
      return await timeRoundTrips(check, count, gapMs);
    } finally {
      client.close();
    }
  } finally {
    await terminate(server);
  }
}
