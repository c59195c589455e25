import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { ThrottledWarning } from '../../src/broker/throttled-warning.js';

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
});
