/**
 * A stand-in OTLP/HTTP collector for `--tracing` runs: accepts every export on
 * 127.0.0.1, counts requests and bytes, and drops them. The broker and the
 * agents then pay the full cost of tracing (spans, batching, protobuf
 * encoding, HTTP) without a real collector on the machine.
 */
import { createServer, type Server } from 'node:http';

export interface OtlpSink {
  readonly endpoint: string;
  readonly requests: number;
  readonly bytes: number;
  close(): Promise<void>;
}

export async function startOtlpSink(): Promise<OtlpSink> {
  let requests = 0;
  let bytes = 0;
  const server: Server = createServer((request, response) => {
    request.on('data', (chunk: Buffer) => (bytes += chunk.length));
    request.on('end', () => {
      requests++;
      response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    get bytes() {
      return bytes;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
