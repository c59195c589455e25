import { describe, expect, it } from 'vitest';
import { useRota } from './fixture.js';
import { eventually } from '../helpers/broker.js';

const rota = useRota();

describe('Worker shutdown signals', () => {
  it('closes gracefully on its signal, finishing the running job first', async () => {
    let release: () => void = () => undefined;
    let running = false;
    const worker = rota.worker({
      queues: ['signals'],
      shutdownSignals: ['SIGUSR2'],
      handler: () =>
        new Promise((done) => {
          running = true;
          release = () => done('finished');
        }),
    });
    await worker.start();
    const producer = rota.producer();
    const { jobId } = await producer.enqueue({ tenant: 'acme', queue: 'signals' });
    await eventually(() => (running ? true : undefined));
    process.emit('SIGUSR2');
    await eventually(() => (worker.state === 'DRAINING' ? true : undefined));
    release();
    await eventually(() => (worker.state === 'STOPPED' ? true : undefined));
    expect((await producer.getJob('acme', jobId)).state).toBe('COMPLETED');
    expect(process.listenerCount('SIGUSR2')).toBe(0);
  });
});
