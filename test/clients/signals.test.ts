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

  it('shares one listener per signal among many Workers, and closes every one of them on it', async () => {
    // A listener per Worker made Node warn of a possible leak past ten.
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const workers = Array.from({ length: 12 }, () =>
        rota.worker({
          queues: ['signals-many'],
          shutdownSignals: ['SIGUSR2'],
          handler: () => 'ok',
        }),
      );
      await Promise.all(workers.map((worker) => worker.start()));
      expect(process.listenerCount('SIGUSR2')).toBe(1);
      process.emit('SIGUSR2');
      await eventually(() => (workers.every((w) => w.state === 'STOPPED') ? true : undefined));
      expect(process.listenerCount('SIGUSR2')).toBe(0);
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('keeps the signal for the Workers still running when one closes', async () => {
    const first = rota.worker({
      queues: ['signals-one'],
      shutdownSignals: ['SIGUSR2'],
      handler: () => 'ok',
    });
    const second = rota.worker({
      queues: ['signals-one'],
      shutdownSignals: ['SIGUSR2'],
      handler: () => 'ok',
    });
    await Promise.all([first.start(), second.start()]);
    await first.close();
    expect(process.listenerCount('SIGUSR2')).toBe(1);
    process.emit('SIGUSR2');
    await eventually(() => (second.state === 'STOPPED' ? true : undefined));
    expect(process.listenerCount('SIGUSR2')).toBe(0);
  });
});
