// Original file: proto/rota/v1/rota.proto


/**
 * Changes the session's capacity (the number of leases it may hold), 0 to the
 * broker's session capacity limit; more ends the stream with INVALID_ARGUMENT.
 * 0 pauses the session: it keeps its leases and gets no new ones until a
 * Credit above 0 (a worker whose slots are all held by handlers it could not
 * stop). Brokers before this took 1 at the least.
 */
export interface Credit {
  'capacity'?: (number);
}

/**
 * Changes the session's capacity (the number of leases it may hold), 0 to the
 * broker's session capacity limit; more ends the stream with INVALID_ARGUMENT.
 * 0 pauses the session: it keeps its leases and gets no new ones until a
 * Credit above 0 (a worker whose slots are all held by handlers it could not
 * stop). Brokers before this took 1 at the least.
 */
export interface Credit__Output {
  'capacity': (number);
}
