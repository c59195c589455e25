import { trace } from '@opentelemetry/api';
import { pino, type Logger } from 'pino';

/**
 * JSON logs on stdout; lifecycle events at info, per-job events at debug. A
 * line written inside an active span carries its trace_id and span_id, so logs
 * and traces join up.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'rota' },
    serializers: { err: serializeError },
    mixin() {
      const span = trace.getActiveSpan();
      if (!span) return {};
      const { traceId, spanId } = span.spanContext();
      return { trace_id: traceId, span_id: spanId };
    },
  };
  return pino(options, destination ?? stdout());
}

/**
 * pino's stdout, silent from the first EIO on: what every write gets once the
 * terminal the broker runs in is closed. pino goes silent so only on EPIPE;
 * on EIO it threw the error as uncaught, and its flush at exit retried the
 * write every 100 ms for ever, so a broker whose terminal closed never
 * finished its stop. Other write errors are thrown as before.
 */
function stdout(): pino.DestinationStream {
  const stream = pino.destination(1);
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EIO') throw error;
    const silent = (): void => undefined;
    Object.assign(stream, { write: () => true, flushSync: silent, end: silent, destroy: silent });
  });
  return stream;
}

/**
 * pino's error serializer, less the `command` ioredis puts on a Redis reply
 * error (its name kept): its args are the script's source and the packed
 * arguments, job payloads, results and lease tokens among them. Logged as
 * is, an ack batch Redis refused wrote its results (a byte array, 4 bytes of
 * log per byte) in a line repeated every second until Redis took the write.
 */
export function serializeError(error: unknown): unknown {
  const serialized = pino.stdSerializers.err(error as Error) as unknown;
  if (typeof serialized !== 'object' || serialized === null || !('command' in serialized)) {
    return serialized;
  }
  const { command, ...rest } = serialized as { command?: { name?: unknown } | null };
  const name = command?.name;
  return typeof name === 'string' ? { ...rest, command: name } : rest;
}
