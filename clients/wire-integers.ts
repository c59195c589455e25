/**
 * protobufjs writes a number into an integer field truncated and wrapped to
 * the field's width: 2.5 is sent as 2, 2^32 + 3 as 3 in a uint32, -1 as
 * 4294967295. A value outside the field's type would reach the broker as a
 * different, valid-looking one, so the clients refuse it before sending; the
 * broker checks the narrower ranges of its own (priority 0–9, …).
 */
import { shown } from './input-shapes.js';

const RANGES = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  uint64: [0, Number.MAX_SAFE_INTEGER],
} as const;

export type WireInteger = keyof typeof RANGES;

/** `value` unchanged when it fits an integer field of `type`; else a TypeError naming `name`. */
export function wireInteger<T extends number | undefined>(
  name: string,
  value: T,
  type: WireInteger,
): T {
  if (value === undefined) return value;
  const [min, max] = RANGES[type];
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`${name} must be an integer from ${min} to ${max}, got ${shown(value)}`);
  }
  return value;
}
