/**
 * The agent side of the IPC contract: runs the handler of each request and
 * answers it. The agent exits when its parent goes away (the IPC channel
 * closes), so a killed orchestrator never leaves agents behind.
 */
import { runBurst, runPaced, type Sink } from './pacing.js';
import type { AgentReply, AgentRequest, ProducerAgentApi, WorkerAgentApi } from './protocol.js';
import type { Recorder } from './recorder.js';

type Handlers<Api> = {
  [K in keyof Api]: Api[K] extends (args: infer A) => Promise<infer R>
    ? (args: A) => Promise<R>
    : never;
};

export function serveAgent<Api>(handlers: Handlers<Api>, onExit: () => Promise<void>): void {
  if (process.send === undefined) {
    console.error('this is a bench agent: run it through bench/run.ts (it needs an IPC channel)');
    process.exit(2);
  }
  const reply = (message: AgentReply): void => {
    if (process.connected) process.send?.(message);
  };
  process.on('message', (raw: AgentRequest) => {
    const handler = (handlers as Record<string, ((args: unknown) => Promise<unknown>) | undefined>)[
      raw.cmd
    ];
    if (handler === undefined) {
      reply({ id: raw.id, ok: false, error: `unknown command ${raw.cmd}` });
      return;
    }
    handler(raw.args).then(
      (value) => reply({ id: raw.id, ok: true, value: value ?? null }),
      (error: unknown) =>
        reply({
          id: raw.id,
          ok: false,
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        }),
    );
  });
  reply({ id: 0, ok: true, value: 'ready' });
  let exiting = false;
  const exit = (): void => {
    if (exiting) return;
    exiting = true;
    const force = setTimeout(() => process.exit(0), 3000);
    force.unref();
    void onExit().finally(() => process.exit(0));
  };
  process.on('disconnect', exit);
  process.on('SIGTERM', exit);
  // Ctrl-C reaches the whole process group: let the orchestrator decide.
  process.on('SIGINT', () => undefined);
}

/** A producer agent: `start` fills `sink` with the system's producers; both systems share the load shapes. */
export function serveProducerAgent(
  sink: Sink,
  start: ProducerAgentApi['start'],
  stop: () => Promise<void>,
): void {
  serveAgent<ProducerAgentApi>(
    {
      start,
      burst: (args) => runBurst(sink, args),
      paced: (args) => runPaced(sink, args),
      stop,
    },
    stop,
  );
}

/** A worker agent: counts come from `recorder()`, which `start` may replace. */
export function serveWorkerAgent(
  recorder: () => Recorder,
  start: WorkerAgentApi['start'],
  stop: () => Promise<void>,
): void {
  serveAgent<WorkerAgentApi>(
    {
      start,
      snapshot: ({ reset, withLatency }) =>
        Promise.resolve(recorder().snapshot(reset === true, withLatency === true)),
      waitFor: async ({ completed, timeoutMs }) => ({
        reached: await recorder().waitFor(completed, timeoutMs),
      }),
      stop,
    },
    stop,
  );
}
