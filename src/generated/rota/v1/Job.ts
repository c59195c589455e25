// Original file: proto/rota/v1/rota.proto

import type { JobState as _rota_v1_JobState, JobState__Output as _rota_v1_JobState__Output } from '../../rota/v1/JobState.js';
import type { Backoff as _rota_v1_Backoff, Backoff__Output as _rota_v1_Backoff__Output } from '../../rota/v1/Backoff.js';
import type { Long } from '@grpc/proto-loader';

/**
 * The job record.
 */
export interface Job {
  'id'?: (string);
  'tenant'?: (string);
  'queue'?: (string);
  'state'?: (_rota_v1_JobState);
  'payload'?: (Buffer | Uint8Array | string);
  'priority'?: (number);
  /**
   * Attempts started so far (a lease hands out attempt `attempts`).
   */
  'attempts'?: (number);
  'max_attempts'?: (number);
  'timeout_ms'?: (number);
  'idempotency_key'?: (string);
  'headers'?: ({[key: string]: string});
  /**
   * Last progress reported by the worker for the current or last attempt
   * (opaque; the TS client sends JSON, or the bytes of a Buffer). A failed
   * attempt's progress stays while the job waits out its backoff or lies dead,
   * and is cleared when a retry or a replay makes the job runnable again.
   */
  'progress'?: (Buffer | Uint8Array | string);
  /**
   * Result of the successful attempt (opaque; the TS client sends JSON, or
   * the bytes of a Buffer result).
   */
  'result'?: (Buffer | Uint8Array | string);
  /**
   * Error of the last failed attempt.
   */
  'last_error'?: (string);
  'created_at_unix_ms'?: (number | string | Long);
  /**
   * When the job becomes runnable (delay or retry backoff; a replayed job: its
   * replay).
   */
  'run_at_unix_ms'?: (number | string | Long);
  /**
   * Start of the current or last lease.
   */
  'leased_at_unix_ms'?: (number | string | Long);
  /**
   * When the job reached a terminal state.
   */
  'finished_at_unix_ms'?: (number | string | Long);
  'backoff'?: (_rota_v1_Backoff | null);
  /**
   * Media type of result, as the worker's Complete gave it ('' when it gave
   * none: an older worker; the TS client then reads JSON, else the bytes).
   */
  'result_content_type'?: (string);
  /**
   * Media type of progress, as the worker's Progress gave it ('' when none).
   */
  'progress_content_type'?: (string);
}

/**
 * The job record.
 */
export interface Job__Output {
  'id': (string);
  'tenant': (string);
  'queue': (string);
  'state': (_rota_v1_JobState__Output);
  'payload': (Buffer);
  'priority': (number);
  /**
   * Attempts started so far (a lease hands out attempt `attempts`).
   */
  'attempts': (number);
  'max_attempts': (number);
  'timeout_ms': (number);
  'idempotency_key': (string);
  'headers': ({[key: string]: string});
  /**
   * Last progress reported by the worker for the current or last attempt
   * (opaque; the TS client sends JSON, or the bytes of a Buffer). A failed
   * attempt's progress stays while the job waits out its backoff or lies dead,
   * and is cleared when a retry or a replay makes the job runnable again.
   */
  'progress': (Buffer);
  /**
   * Result of the successful attempt (opaque; the TS client sends JSON, or
   * the bytes of a Buffer result).
   */
  'result': (Buffer);
  /**
   * Error of the last failed attempt.
   */
  'last_error': (string);
  'created_at_unix_ms': (string);
  /**
   * When the job becomes runnable (delay or retry backoff; a replayed job: its
   * replay).
   */
  'run_at_unix_ms': (string);
  /**
   * Start of the current or last lease.
   */
  'leased_at_unix_ms': (string);
  /**
   * When the job reached a terminal state.
   */
  'finished_at_unix_ms': (string);
  'backoff': (_rota_v1_Backoff__Output | null);
  /**
   * Media type of result, as the worker's Complete gave it ('' when it gave
   * none: an older worker; the TS client then reads JSON, else the bytes).
   */
  'result_content_type': (string);
  /**
   * Media type of progress, as the worker's Progress gave it ('' when none).
   */
  'progress_content_type': (string);
}
