/**
 * How the TypeScript clients turn values into the proto's opaque bytes and back.
 *
 * Payload: a Buffer or Uint8Array travels as is; any other value (including a
 * string) is JSON and the job carries the header `content-type:
 * application/json`, which tells the worker to parse it. `undefined` is JSON
 * with an empty body, decoded back to `undefined`.
 *
 * Results and progress carry their media type (Complete.result_content_type,
 * Progress.content_type): a Buffer or Uint8Array travels as is
 * (`application/octet-stream`), anything else as JSON (`undefined` = empty).
 * Where no media type was given (an older worker), readers parse JSON and fall
 * back to the raw bytes when it is not JSON.
 */

export const CONTENT_TYPE = 'content-type';
export const JSON_CONTENT_TYPE = 'application/json';
export const BYTES_CONTENT_TYPE = 'application/octet-stream';

const EMPTY = Buffer.alloc(0);

/** JSON bytes of a value; `undefined` → empty. Throws TypeError when the value is not JSON-serializable. */
export function encodeJson(value: unknown): Buffer {
  if (value === undefined) return EMPTY;
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new TypeError(`value is not JSON-serializable: ${(err as Error).message}`, {
      cause: err,
    });
  }
  // JSON.stringify answers undefined for functions and symbols.
  if (text === undefined)
    throw new TypeError(`value of type ${typeof value} is not JSON-serializable`);
  return Buffer.from(text, 'utf8');
}

/** The inverse of `encodeJson`; throws SyntaxError on bad JSON. */
export function decodeJson(bytes: Uint8Array): unknown {
  if (bytes.length === 0) return undefined;
  return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8'));
}

/** JSON when it parses, else the bytes themselves; empty → undefined. */
export function decodeJsonOrBytes(bytes: Buffer): unknown {
  if (bytes.length === 0) return undefined;
  try {
    return decodeJson(bytes);
  } catch {
    return bytes;
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Payload bytes and the headers to send with them (see the module comment). */
export function encodePayload(
  payload: unknown,
  headers: Readonly<Record<string, string>> | undefined,
): { payload: Buffer; headers: Record<string, string> } {
  const out: Record<string, string> = { ...headers };
  if (payload instanceof Uint8Array) return { payload: asBuffer(payload), headers: out };
  for (const key of Object.keys(out)) if (key.toLowerCase() === CONTENT_TYPE) delete out[key];
  out[CONTENT_TYPE] = JSON_CONTENT_TYPE;
  return { payload: encodeJson(payload), headers: out };
}

/** A result or progress value as the worker reports it (see the module comment). Throws TypeError like `encodeJson`. */
export function encodeReported(value: unknown): { bytes: Buffer; contentType: string } {
  if (value instanceof Uint8Array)
    return { bytes: asBuffer(value), contentType: BYTES_CONTENT_TYPE };
  return { bytes: encodeJson(value), contentType: JSON_CONTENT_TYPE };
}

/** A stored result or progress, decoded by its media type ('' = not given, see the module comment). */
export function decodeReported(bytes: Buffer, contentType: string): unknown {
  if (contentType === '' || isJsonMediaType(contentType)) return decodeJsonOrBytes(bytes);
  return bytes;
}

/** `application/json` or `…+json`, parameters aside. */
function isJsonMediaType(value: string): boolean {
  const media = value.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  return media === JSON_CONTENT_TYPE || media.endsWith('+json');
}

/** `true` when the headers declare a JSON payload (`application/json` or `…+json`). */
export function isJsonPayload(headers: Readonly<Record<string, string>>): boolean {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === CONTENT_TYPE) return isJsonMediaType(value);
  }
  return false;
}

/** The payload as the handler sees it: parsed JSON for JSON payloads, else the bytes. Throws SyntaxError on bad JSON. */
export function decodePayload(bytes: Buffer, headers: Readonly<Record<string, string>>): unknown {
  return isJsonPayload(headers) ? decodeJson(bytes) : bytes;
}
