import type { Logger } from 'pino';
import type { TokenRequest } from '../scheduler/index.js';
import type { SharedBuckets } from '../store/shared-buckets.js';

/** After a failed take, wait this long before asking Redis again. */
const RETRY_AFTER_ERROR_MS = 1000;

/** Where an answer goes: tokens granted, else the ms until the bucket has one. */
export type TokenAnswer = (request: TokenRequest, granted: number, waitMs: number) => void;

/**
 * Carries the scheduler's requests for shared rate-limit tokens to Redis: the
 * requests of one event-loop turn go as one script call. A failed call grants
 * nothing and asks again a second later: a rate-limited tenant waits out an
 * outage (its jobs could not be leased meanwhile anyway) and is never let
 * through unlimited.
 */
export class TokenSupply {
  private pending: TokenRequest[] = [];

  constructor(
    private readonly buckets: SharedBuckets,
    private readonly answer: TokenAnswer,
    private readonly logger: Logger,
  ) {}

  request(request: TokenRequest): void {
    this.pending.push(request);
    if (this.pending.length === 1) setImmediate(() => this.flush());
  }

  private flush(): void {
    const requests = this.pending;
    this.pending = [];
    this.buckets.take(requests).then(
      (grants) =>
        grants.forEach(({ granted, waitMs }, i) => this.answer(requests[i]!, granted, waitMs)),
      (error: unknown) => {
        this.logger.warn(
          { err: error, buckets: requests.length },
          'could not take rate-limit tokens from Redis; those tenants wait and retry',
        );
        for (const request of requests) this.answer(request, 0, RETRY_AFTER_ERROR_MS);
      },
    );
  }
}
