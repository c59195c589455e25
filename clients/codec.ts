/**
 * How the TypeScript clients turn values into the proto's opaque bytes and back.
 *
 * Payload: a Buffer or Uint8Array travels as is; any other value (including a
 * string) is JSON and the job carries the header `content-type:
 * application/json`, which tells the worker to parse it. `undefined` is JSON
 * with an empty body, decoded back to `undefined`.
 *
 * Results and progress carry no header: the TS worker always writes JSON
 * (`undefined` = empty). Readers parse JSON and fall back to the raw bytes when
 * another client stored something that is not JSON.
 */

export const CONTENT_TYPE = 'content-type';
export const JSON_CONTENT_TYPE = 'application/json';

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

/** Payload bytes and the headers to send with them (see the module comment). */
export function encodePayload(
  payload: unknown,
  headers: Readonly<Record<string, string>> | undefined,
): { payload: Buffer; headers: Record<string, string> } {
  const out: Record<string, string> = { ...headers };
  if (payload instanceof Uint8Array) {
    return {
      payload: Buffer.isBuffer(payload)
        ? payload
        : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
      headers: out,
    };
  }
  for (const key of Object.keys(out)) if (key.toLowerCase() === CONTENT_TYPE) delete out[key];
  out[CONTENT_TYPE] = JSON_CONTENT_TYPE;
  return { payload: encodeJson(payload), headers: out };
}

/** `true` when the headers declare a JSON payload (`application/json` or `…+json`). */
export function isJsonPayload(headers: Readonly<Record<string, string>>): boolean {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== CONTENT_TYPE) continue;
    const media = value.split(';', 1)[0]?.trim().toLowerCase() ?? '';
    return media === JSON_CONTENT_TYPE || media.endsWith('+json');
  }
  return false;
}

/** The payload as the handler sees it: parsed JSON for JSON payloads, else the bytes. Throws SyntaxError on bad JSON. */
export function decodePayload(bytes: Buffer, headers: Readonly<Record<string, string>>): unknown {
  return isJsonPayload(headers) ? decodeJson(bytes) : bytes;
}
