/**
 * From JavaScript the clients get whatever their caller passes. A lone string
 * where they take a list of names would be spread into its letters (tenants
 * 'acme' as the tenants a, c, m and e), a list of other things sent as
 * whatever protobuf makes of them, and a string or null where they take an
 * object, or a list of objects, would fail deep inside ("….map is not a
 * function"): the clients refuse each with a TypeError naming the argument.
 * A number given as a string (from process.env, say) passes a range check,
 * which compares it as a number, and is then misread (`Date.now() + '5000'`
 * is a string): the clients take numbers only, and their messages show a
 * string as one, so "got 5" does not hide that the 5 was "5".
 */
import { quoted } from '../src/broker/errors.js';

/** How a message names the kind of a value (typeof, but null and arrays by name). */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'array' : typeof value;
}

/** A value as a message shows it: a string quoted and named, an object by its kind. */
export function shown(value: unknown): string {
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'bigint') return `the bigint ${value}n`;
  return typeof value === 'object' && value !== null ? kindOf(value) : String(value);
}

function notAList(name: string, value: unknown, expected: string, stringHint = ''): TypeError {
  const got =
    typeof value === 'string' ? `the string ${JSON.stringify(value)}${stringHint}` : kindOf(value);
  return new TypeError(`${name} must be ${expected}, got ${got}`);
}

/** A frozen copy of `value` when it is an array of strings; else a TypeError naming `name`. */
export function stringList<T extends string = string>(
  name: string,
  value: unknown,
  expected = 'an array of strings',
): readonly T[] {
  if (!Array.isArray(value)) {
    throw notAList(
      name,
      value,
      expected,
      typeof value === 'string' ? `: write [${JSON.stringify(value)}]` : '',
    );
  }
  value.forEach((item: unknown, i) => {
    if (typeof item !== 'string') {
      throw new TypeError(`${name}[${i}] must be a string, got ${kindOf(item)}`);
    }
  });
  return Object.freeze([...(value as T[])]);
}

/** `value` when it is an object (not null, not an array); else a TypeError naming `name`. */
export function objectArgument<T extends object>(name: string, value: unknown): T {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${name} must be an object, got ${kindOf(value)}`);
  }
  return value as T;
}

/**
 * `value` when it is a string; else a TypeError naming `name`. protobuf sends
 * any other value as String(value): `tenant: 42` as '42', `queue: ['a']` as 'a'.
 */
export function stringArgument(name: string, value: unknown): string {
  if (typeof value !== 'string') {
    throw new TypeError(`${name} must be a string, got ${shown(value)}`);
  }
  return value;
}

/**
 * A copy of `value` when it is an object of strings; else a TypeError naming
 * `name`, or the entry. The copy is what was checked: a getter read again
 * could answer something else.
 */
export function stringRecord(name: string, value: unknown): Record<string, string> {
  const copy: Record<string, unknown> = { ...objectArgument(name, value) };
  for (const [key, item] of Object.entries(copy)) {
    stringArgument(`${name}[${quoted(key)}]`, item);
  }
  return copy as Record<string, string>;
}

/**
 * `value` when it is a boolean or undefined; else a TypeError naming `name`.
 * protobuf sends any other value as its truthiness: the string 'false' as true.
 */
export function optionalBoolean(name: string, value: unknown): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') {
    throw new TypeError(`${name} must be true or false, got ${shown(value)}`);
  }
  return value;
}

/** `value` when it is an array, its items left to the caller; else a TypeError naming `name`. */
export function arrayArgument<T>(name: string, value: unknown, expected: string): readonly T[] {
  if (!Array.isArray(value)) throw notAList(name, value, expected);
  return value as readonly T[];
}

/** `value` when it is an array of objects; else a TypeError naming `name` (or the item). */
export function objectList<T extends object>(
  name: string,
  value: unknown,
  expected: string,
): readonly T[] {
  const list = arrayArgument<unknown>(name, value, expected);
  list.forEach((item, i) => objectArgument(`${name}[${i}]`, item));
  return list as readonly T[];
}
