/**
 * The text of any thrown value, for an error message, a log or a span: an
 * Error's message (its name when empty), a string as it is, anything else as
 * JSON where JSON can say it (a plain object's fields tell more than "[object
 * Object]"), else String(). It never throws itself: code may throw anything,
 * including values that defeat JSON (a BigInt, a circular object), String()
 * (Object.create(null), a toString that throws) or both, and the message is
 * written on the way to reporting that failure.
 */
export function thrownMessage(value: unknown): string {
  try {
    if (value instanceof Error) return value.message === '' ? value.name : String(value.message);
    if (typeof value === 'string') return value;
    return jsonOf(value) ?? String(value);
  } catch {
    return `a thrown ${typeof value} that has no text`;
  }
}

/** Undefined for what JSON cannot say: it throws on some, and has no text for others (a function). */
function jsonOf(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}
