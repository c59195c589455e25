// Original file: proto/rota/v1/rota.proto


/**
 * Changes the session's capacity (the number of leases it may hold).
 */
export interface Credit {
  'capacity'?: (number);
}

/**
 * Changes the session's capacity (the number of leases it may hold).
 */
export interface Credit__Output {
  'capacity': (number);
}
