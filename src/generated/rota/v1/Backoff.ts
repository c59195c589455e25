// Original file: proto/rota/v1/rota.proto


/**
 * Backoff between retries: exponential with full jitter. The delay before
 * attempt n+1 is uniform in [0, min(max_ms, initial_ms × 2^(n-1))]. Each value
 * is at most 7 days (604,800,000 ms), and initial_ms at most max_ms.
 */
export interface Backoff {
  /**
   * Base delay in ms. 0 = the broker default (1000), or max_ms when that is
   * set and smaller.
   */
  'initial_ms'?: (number);
  /**
   * Upper bound of one delay in ms. 0 = the broker default (3,600,000), or
   * initial_ms when that is larger.
   */
  'max_ms'?: (number);
}

/**
 * Backoff between retries: exponential with full jitter. The delay before
 * attempt n+1 is uniform in [0, min(max_ms, initial_ms × 2^(n-1))]. Each value
 * is at most 7 days (604,800,000 ms), and initial_ms at most max_ms.
 */
export interface Backoff__Output {
  /**
   * Base delay in ms. 0 = the broker default (1000), or max_ms when that is
   * set and smaller.
   */
  'initial_ms': (number);
  /**
   * Upper bound of one delay in ms. 0 = the broker default (3,600,000), or
   * initial_ms when that is larger.
   */
  'max_ms': (number);
}
