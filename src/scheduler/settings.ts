/**
 * Per-tenant scheduling settings (the knobs of `Admin.SetTenant`), their
 * defaults, and the one place they are validated.
 */

export interface TenantSettings {
  /** Share of dispatches relative to other tenants of the same queue; MIN_WEIGHT..MAX_WEIGHT, may be fractional. @default 1 */
  weight: number;
  /** Dispatches per second (token bucket refill); 0 = unlimited. @default 0 */
  rate: number;
  /** Token bucket size; 0 = max(1, rate). Otherwise ≥ 1. @default 0 */
  burst: number;
  /** Leases held at once; 0 = unlimited. @default 0 */
  maxInFlight: number;
  /** No new leases while true (jobs still queue up). @default false */
  paused: boolean;
}

export const DEFAULT_TENANT_SETTINGS: Readonly<TenantSettings> = Object.freeze({
  weight: 1,
  rate: 0,
  burst: 0,
  maxInFlight: 0,
  paused: false,
});

/**
 * Bounds on weight. A visit credits quantum × weight, so a tenant needs
 * ⌈1 / (quantum × weight)⌉ visits per dispatch: the lower bound keeps that
 * O(1000) (a weight of 1e-300 once spun the scheduler for ~1e300 visits).
 * The upper bound keeps every deficit a small, exact double.
 */
export const MIN_WEIGHT = 0.001;
export const MAX_WEIGHT = 1_000_000;

/** Bucket size actually used: `burst`, or max(1, rate) when burst is 0 (auto). */
export function effectiveBurst(rate: number, burst: number): number {
  return burst === 0 ? Math.max(1, rate) : burst;
}

/** Defaults filled in, validated, frozen. `subject` names the tenant in error messages. */
export function resolveTenantSettings(
  settings: Partial<TenantSettings> | undefined,
  subject: string,
): Readonly<TenantSettings> {
  return Object.freeze({ ...DEFAULT_TENANT_SETTINGS, ...checkedFields(settings, subject) });
}

/**
 * A tenant×queue override: only the fields it sets, validated and frozen.
 * Its `burst` sizes the override's own bucket, so it needs the override's own `rate`.
 */
export function resolveQueueOverride(
  settings: Partial<TenantSettings>,
  subject: string,
): Readonly<Partial<TenantSettings>> {
  const fields = checkedFields(settings, subject);
  if (fields.burst !== undefined && fields.rate === undefined) {
    throw new TypeError(
      `${subject}: burst is set without rate; an override's burst sizes the override's own bucket, so set rate too`,
    );
  }
  return Object.freeze(fields);
}

function checkedFields(
  settings: Partial<TenantSettings> | undefined,
  subject: string,
): Partial<TenantSettings> {
  const fields: Partial<TenantSettings> = {};
  if (settings === undefined) return fields;
  const { weight, rate, burst, maxInFlight, paused } = settings;
  if (weight !== undefined) {
    if (!Number.isFinite(weight) || weight < MIN_WEIGHT || weight > MAX_WEIGHT) {
      throw new RangeError(
        `${subject}: weight must be a number from ${MIN_WEIGHT} to ${MAX_WEIGHT}, got ${weight}`,
      );
    }
    fields.weight = weight;
  }
  if (rate !== undefined) {
    if (!Number.isFinite(rate) || rate < 0) {
      throw new RangeError(
        `${subject}: rate must be a finite number ≥ 0 (0 = unlimited), got ${rate}`,
      );
    }
    fields.rate = rate;
  }
  if (burst !== undefined) {
    if (!Number.isFinite(burst) || (burst !== 0 && burst < 1)) {
      throw new RangeError(`${subject}: burst must be 0 (= max(1, rate)) or ≥ 1, got ${burst}`);
    }
    fields.burst = burst;
  }
  if (maxInFlight !== undefined) {
    if (!Number.isSafeInteger(maxInFlight) || maxInFlight < 0) {
      throw new RangeError(
        `${subject}: maxInFlight must be an integer ≥ 0 (0 = unlimited), got ${maxInFlight}`,
      );
    }
    fields.maxInFlight = maxInFlight;
  }
  if (paused !== undefined) {
    if (typeof paused !== 'boolean') {
      throw new TypeError(`${subject}: paused must be true or false, got ${String(paused)}`);
    }
    fields.paused = paused;
  }
  return fields;
}
