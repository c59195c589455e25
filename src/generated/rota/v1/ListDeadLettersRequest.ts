// Original file: proto/rota/v1/rota.proto


export interface ListDeadLettersRequest {
  'tenant'?: (string);
  'queue'?: (string);
  /**
   * 1–1000, default 100. A page holds fewer (at least one) where its jobs'
   * payloads, headers, progress, results and errors pass about 1 MiB, so it
   * fits grpc-js's default 4 MiB receive limit; follow next_page_token.
   */
  'page_size'?: (number);
  /**
   * next_page_token of the previous page; empty for the first.
   */
  'page_token'?: (string);
}

export interface ListDeadLettersRequest__Output {
  'tenant': (string);
  'queue': (string);
  /**
   * 1–1000, default 100. A page holds fewer (at least one) where its jobs'
   * payloads, headers, progress, results and errors pass about 1 MiB, so it
   * fits grpc-js's default 4 MiB receive limit; follow next_page_token.
   */
  'page_size': (number);
  /**
   * next_page_token of the previous page; empty for the first.
   */
  'page_token': (string);
}
