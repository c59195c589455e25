// Original file: proto/rota/v1/rota.proto


export interface ListDeadLettersRequest {
  'tenant'?: (string);
  'queue'?: (string);
  /**
   * 1–1000, default 100.
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
   * 1–1000, default 100.
   */
  'page_size': (number);
  /**
   * next_page_token of the previous page; empty for the first.
   */
  'page_token': (string);
}
