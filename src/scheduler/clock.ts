/**
 * The only source of time in the scheduler: milliseconds on a monotonic scale
 * (`performance.now()` or `Date.now()` in the broker, a plain number in tests).
 * Nothing here reads a real clock, so every test can drive time exactly.
 */
export type Clock = () => number;
