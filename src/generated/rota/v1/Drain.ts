// Original file: proto/rota/v1/rota.proto


/**
 * Worker → broker: send no more leases. Broker → worker: the broker is shutting down.
 */
export interface Drain {
  /**
   * Broker → worker only: how long the broker still accepts acks.
   */
  'grace_ms'?: (number);
}

/**
 * Worker → broker: send no more leases. Broker → worker: the broker is shutting down.
 */
export interface Drain__Output {
  /**
   * Broker → worker only: how long the broker still accepts acks.
   */
  'grace_ms': (number);
}
