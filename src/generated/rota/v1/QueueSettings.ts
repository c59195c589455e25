// Original file: proto/rota/v1/rota.proto


/**
 * Per-queue override of a tenant's settings. Unset fields inherit the tenant's.
 * In SetTenant, the fields given change the stored override and the others
 * keep their stored value; an override with no field but queue clears it.
 */
export interface QueueSettings {
  'queue'?: (string);
  'weight'?: (number | string);
  'rate'?: (number | string);
  /**
   * Sizes the override's own bucket, so the override needs a rate too (else
   * INVALID_ARGUMENT).
   */
  'burst'?: (number);
  'max_in_flight'?: (number);
  /**
   * True pauses the tenant on this queue alone (see Tenant.paused).
   */
  'paused'?: (boolean);
  '_weight'?: "weight";
  '_rate'?: "rate";
  '_burst'?: "burst";
  '_max_in_flight'?: "max_in_flight";
  '_paused'?: "paused";
}

/**
 * Per-queue override of a tenant's settings. Unset fields inherit the tenant's.
 * In SetTenant, the fields given change the stored override and the others
 * keep their stored value; an override with no field but queue clears it.
 */
export interface QueueSettings__Output {
  'queue': (string);
  'weight'?: (number);
  'rate'?: (number);
  /**
   * Sizes the override's own bucket, so the override needs a rate too (else
   * INVALID_ARGUMENT).
   */
  'burst'?: (number);
  'max_in_flight'?: (number);
  /**
   * True pauses the tenant on this queue alone (see Tenant.paused).
   */
  'paused'?: (boolean);
  '_weight'?: "weight";
  '_rate'?: "rate";
  '_burst'?: "burst";
  '_max_in_flight'?: "max_in_flight";
  '_paused'?: "paused";
}
