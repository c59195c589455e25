/**
 * From JavaScript, a lone string where the clients take a list of names would
 * be spread into its letters (tenants 'acme' as the tenants a, c, m and e),
 * and a list of other things sent as protobuf makes of them: the clients
 * refuse both.
 */

/** A frozen copy of `value` when it is an array of strings; else a TypeError naming `name`. */
export function stringList<T extends string = string>(
  name: string,
  value: unknown,
  expected = 'an array of strings',
): readonly T[] {
  if (!Array.isArray(value)) {
    const got =
      typeof value === 'string'
        ? `the string ${JSON.stringify(value)}: write [${JSON.stringify(value)}]`
        : typeof value;
    throw new TypeError(`${name} must be ${expected}, got ${got}`);
  }
  value.forEach((item: unknown, i) => {
    if (typeof item !== 'string') {
      throw new TypeError(`${name}[${i}] must be a string, got ${typeof item}`);
    }
  });
  return Object.freeze([...(value as T[])]);
}
