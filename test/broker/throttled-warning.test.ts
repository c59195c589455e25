import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ThrottledWarning, ThrottledWarnings } from '../../src/broker/throttled-warning.js';

/** A pino logger whose lines land, parsed, in `lines`. */
function capturedLogger(): { lines: Array<Record<string, unknown>>; logger: Logger } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: pino({}, sink) };
}

describe('ThrottledWarning', () => {
  it('logs the first at once, then at most one per interval with the count left out', () => {
    const { lines, logger } = capturedLogger();
    let now = 0;
    const warning = new ThrottledWarning(logger, 'it failed', 1000, () => now);
    warning.warn({ jobId: 'a' });
    now = 500;
    warning.warn({ jobId: 'b' });
    warning.warn({ jobId: 'c' });
    now = 1000;
    warning.warn({ jobId: 'd' });
    now = 1500;
    warning.warn({ jobId: 'e' });
    expect(lines.map(({ level, msg, jobId, leftOut }) => ({ level, msg, jobId, leftOut }))).toEqual(
      [
        { level: 40, msg: 'it failed', jobId: 'a', leftOut: undefined },
        { level: 40, msg: 'it failed', jobId: 'd', leftOut: 2 },
      ],
    );
  });

  it('builds fields given as a function only for the warnings it logs', () => {
    const { lines, logger } = capturedLogger();
    let now = 0;
    let built = 0;
    const warning = new ThrottledWarning(logger, 'bound reached', 1000, () => now);
    const fields = (): Record<string, unknown> => ({ built: ++built });
    for (now = 0; now < 2500; now += 100) warning.warn(fields);
    expect(built).toBe(3);
    expect(lines.map(({ built, leftOut }) => ({ built, leftOut }))).toEqual([
      { built: 1, leftOut: undefined },
      { built: 2, leftOut: 9 },
      { built: 3, leftOut: 9 },
    ]);
  });

  describe('at the end of a burst', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('logs the warnings left out once the interval passes without another', () => {
      vi.useFakeTimers();
      const { lines, logger } = capturedLogger();
      const warning = new ThrottledWarning(logger, 'write failed', 1000);
      warning.warn({ jobId: 'a' });
      vi.advanceTimersByTime(200);
      warning.warn({ jobId: 'b' });
      vi.advanceTimersByTime(300);
      warning.warn({ jobId: 'c' });
      warning.warn({ jobId: 'd' });
      // the outage ends: nothing more comes
      vi.advanceTimersByTime(499);
      expect(lines).toHaveLength(1);
      vi.advanceTimersByTime(1);
      expect(lines.map(({ jobId, leftOut }) => ({ jobId, leftOut }))).toEqual([
        { jobId: 'a', leftOut: undefined },
        { jobId: 'd', leftOut: 2 },
      ]);
      // the flushed line starts an interval of its own; a lone warning after it is logged alone
      vi.advanceTimersByTime(5000);
      expect(lines).toHaveLength(2);
      warning.warn({ jobId: 'e' });
      expect(lines.map(({ jobId, leftOut }) => ({ jobId, leftOut }))[2]).toEqual({
        jobId: 'e',
        leftOut: undefined,
      });
    });

    it('flushes nothing when the next interval logged the warnings left out itself', () => {
      vi.useFakeTimers();
      const { lines, logger } = capturedLogger();
      const warning = new ThrottledWarning(logger, 'write failed', 1000);
      warning.warn({ jobId: 'a' });
      vi.advanceTimersByTime(500);
      warning.warn({ jobId: 'b' });
      // the next warning comes due before the flush timer runs (a busy event loop)
      vi.setSystemTime(Date.now() + 500);
      warning.warn({ jobId: 'c' });
      vi.advanceTimersByTime(10_000);
      expect(lines.map(({ jobId, leftOut }) => ({ jobId, leftOut }))).toEqual([
        { jobId: 'a', leftOut: undefined },
        { jobId: 'c', leftOut: 1 },
      ]);
    });

    it('logs the warnings left out when the broker stops, and nothing after', () => {
      vi.useFakeTimers();
      const { lines, logger } = capturedLogger();
      const warnings = new ThrottledWarnings(logger);
      const writes = warnings.make('write failed', 1000);
      const quiet = warnings.make('nothing left out', 1000);
      writes.warn({ jobId: 'a' });
      quiet.warn({ jobId: 'q' });
      vi.advanceTimersByTime(200);
      writes.warn({ jobId: 'b' });
      writes.warn({ jobId: 'c' });
      warnings.close();
      const fields = ({ msg, jobId, leftOut }: Record<string, unknown>) => ({
        msg,
        jobId,
        leftOut,
      });
      const atStop = [
        { msg: 'write failed', jobId: 'a', leftOut: undefined },
        { msg: 'nothing left out', jobId: 'q', leftOut: undefined },
        { msg: 'write failed', jobId: 'c', leftOut: 1 },
      ];
      expect(lines.map(fields)).toEqual(atStop);
      vi.advanceTimersByTime(10_000);
      expect(lines.map(fields)).toEqual(atStop);
      expect(vi.getTimerCount()).toBe(0);
      // A straggler after the stop, or a warning made after it, is logged at once; no timer is left.
      writes.warn({ jobId: 'd' });
      writes.warn({ jobId: 'e' });
      warnings.make('made late', 1000).warn({ jobId: 'f' });
      expect(lines.slice(atStop.length).map(fields)).toEqual([
        { msg: 'write failed', jobId: 'd', leftOut: undefined },
        { msg: 'write failed', jobId: 'e', leftOut: undefined },
        { msg: 'made late', jobId: 'f', leftOut: undefined },
      ]);
      expect(vi.getTimerCount()).toBe(0);
    });
  });
});
