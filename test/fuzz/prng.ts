/**
 * A small seeded PRNG (sfc32) and the random choices the fuzzers make with it,
 * so a failing run replays exactly from its seed (ROTA_FUZZ_SEED=<n>).
 */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(readonly seed: number) {
    this.#a = 0x9e3779b9;
    this.#b = 0x243f6a88;
    this.#c = 0xb7e15162;
    this.#d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.#a >>>= 0;
    this.#b >>>= 0;
    this.#c >>>= 0;
    this.#d >>>= 0;
    let t = (this.#a + this.#b) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#d = (this.#d + 1) | 0;
    t = (t + this.#d) | 0;
    this.#c = (this.#c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  bool(p = 0.5): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** Picks by weight: [[weight, value], …]. */
  weighted<T>(choices: ReadonlyArray<readonly [number, T]>): T {
    const total = choices.reduce((sum, [w]) => sum + w, 0);
    let r = this.next() * total;
    for (const [w, value] of choices) {
      r -= w;
      if (r < 0) return value;
    }
    return choices[choices.length - 1]![1];
  }

  bytes(length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i += 4) {
      const word = (this.next() * 4294967296) >>> 0;
      for (let k = 0; k < 4 && i + k < length; k++) out[i + k] = (word >>> (8 * k)) & 0xff;
    }
    return out;
  }

  /** A random string: empty, ASCII, unicode (astral, RTL, NUL, lone surrogates), or huge. */
  string(): string {
    const kind = this.weighted<string>([
      [2, 'empty'],
      [4, 'ascii'],
      [3, 'unicode'],
      [2, 'special'],
      [1, 'long'],
      [0.2, 'huge'],
    ]);
    switch (kind) {
      case 'empty':
        return '';
      case 'ascii':
        return this.ascii(this.int(1, 70));
      case 'unicode':
        return Array.from({ length: this.int(1, 40) }, () => this.pick(UNICODE)).join('');
      case 'special':
        return this.pick(SPECIAL);
      case 'long':
        return this.ascii(this.int(60, 5000));
      default:
        return 'x'.repeat(this.int(100_000, 300_000));
    }
  }

  ascii(length: number): string {
    let out = '';
    for (let i = 0; i < length; i++) out += String.fromCharCode(this.int(32, 126));
    return out;
  }
}

const UNICODE = [
  'é', 'ß', 'Ж', '中', '文', '🙂', '👩‍👩‍👧', '𝔘', 'ש', 'ل', '\u202e', '\u0000', '\n', '\t',
  '\ud800', '\udfff', '\ufeff', '\uffff', '{', '}', ':', '*', '"', '\\', '%', ' ',
]; // prettier-ignore

const SPECIAL = [
  '{', '}', '{acme}', 'a:b', 'a b', '*', '..', '.', '-', '_', 'a'.repeat(64), 'a'.repeat(65),
  'null', 'undefined', '0', '-1', 'NaN', '\u0000', 'acme\u0000', ' acme', 'rota', 'job:1',
  '%s%s%s', "'; DROP", '\r\n', 'ready:0', 'idem:x',
]; // prettier-ignore

/** A seed from ROTA_FUZZ_SEED, or a fresh one. */
export function fuzzSeed(): number {
  const fromEnv = process.env.ROTA_FUZZ_SEED;
  if (fromEnv !== undefined && fromEnv !== '') return Number(fromEnv) >>> 0;
  return (Date.now() ^ (process.pid << 16)) >>> 0;
}
