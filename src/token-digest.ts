import { createHash } from 'node:crypto';

/**
 * A bearer token's SHA-256, what a configured token is kept as and a
 * presented one compared by: the gRPC edge's tokens and the metrics
 * endpoint's alike. Its own module so telemetry need not depend on the edge.
 */
export const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();
