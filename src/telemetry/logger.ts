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
    mixin() {
      const span = trace.getActiveSpan();
      if (!span) return {};
      const { traceId, spanId } = span.spanContext();
      return { trace_id: traceId, span_id: spanId };
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
