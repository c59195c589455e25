/**
 * Bearer tokens: read from ROTA_AUTH_FILE (JSON or YAML) and ROTA_AUTH_TOKENS,
 * kept in memory only as SHA-256 digests, and matched in constant time.
 *
 * File, a list or `{ tokens: [...] }` of:
 *
 *     - token: sha256:9f86d081884c7d65…   # or the token itself (≥ 16 characters)
 *       role: producer                    # producer | worker | admin
 *       tenants: [acme, globex]           # optional; left out = every tenant (empty is refused)
 *       name: acme-api                    # optional; shown in logs instead of a digest prefix
 *
 * Environment, entries separated by `;`: `token:role[:tenant1,tenant2]`, where
 * token is the token itself or `sha256:<64 hex>`.
 *
 * Errors never repeat a token: they name the entry by its position.
 */
import { timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { isName } from '../broker/validation.js';
import { ConfigError } from '../config.js';
import { sha256 } from '../token-digest.js';

export type Role = 'producer' | 'worker' | 'admin';
export const ROLES: readonly Role[] = ['producer', 'worker', 'admin'];

/** Who is calling, as far as the broker cares. */
export interface Principal {
  /** For logs: the token's name, or `sha256:` and the first 12 hex digits of its digest. */
  readonly id: string;
  readonly role: Role;
  /** Tenants the caller may act for; undefined = every tenant. */
  readonly tenants: ReadonlySet<string> | undefined;
}

export interface TokenEntry {
  /** SHA-256 of the token. */
  readonly digest: Buffer;
  readonly principal: Principal;
}

export const MIN_TOKEN_LENGTH = 16;
const MAX_TOKEN_LENGTH = 4096;
const DIGEST_PREFIX = 'sha256:';
const HEX_DIGEST = /^[0-9a-fA-F]{64}$/;
/** Printable ASCII without spaces: what an HTTP/2 header value can carry unchanged. */
const TOKEN_CHARS = /^[\x21-\x7e]+$/;

/**
 * The known tokens. `match` hashes the presented token and compares the digest
 * with every stored digest using `crypto.timingSafeEqual`, without stopping at
 * the first hit, so the time taken does not depend on which token (if any)
 * matched or on how many leading bytes agree.
 */
export class TokenStore {
  readonly #entries: readonly TokenEntry[];

  constructor(entries: readonly TokenEntry[]) {
    for (const entry of entries) {
      if (entry.digest.length !== 32) throw new TypeError('token digests must be 32 bytes');
    }
    this.#entries = Object.freeze([...entries]);
  }

  get size(): number {
    return this.#entries.length;
  }

  /** Tokens per role, for the start-up log. */
  roles(): Record<Role, number> {
    const counts: Record<Role, number> = { producer: 0, worker: 0, admin: 0 };
    for (const entry of this.#entries) counts[entry.principal.role]++;
    return counts;
  }

  /** The principal a presented token stands for, or undefined when no token matches. */
  match(token: string): Principal | undefined {
    const digest = sha256(token);
    let found: Principal | undefined;
    for (const entry of this.#entries) {
      const equal = timingSafeEqual(digest, entry.digest);
      if (equal && found === undefined) found = entry.principal;
    }
    return found;
  }
}

/** One token as written in the file (or parsed from the environment). */
interface RawToken {
  readonly token: unknown;
  readonly role: unknown;
  readonly tenants?: unknown;
  readonly name?: unknown;
}

/** Checks one token entry; `where` names it in errors ("ROTA_AUTH_FILE x.yaml, entry 2"). */
export function toTokenEntry(raw: RawToken, where: string): TokenEntry {
  if (typeof raw !== 'object' || raw === null) {
    throw new ConfigError(`${where}: must be an object { token, role, tenants?, name? }`);
  }
  const digest = toDigest(raw.token, where);
  if (typeof raw.role !== 'string' || !ROLES.includes(raw.role as Role)) {
    throw new ConfigError(`${where}: role must be one of ${ROLES.join(', ')}`);
  }
  let tenants: Set<string> | undefined;
  if (raw.tenants !== undefined) {
    // Fail closed: an empty list (a template's variable that came out empty,
    // `tenants:` with nothing after it) taken as "none" would be every tenant.
    if (raw.tenants === null || (Array.isArray(raw.tenants) && raw.tenants.length === 0)) {
      throw new ConfigError(
        `${where}: tenants is empty; name at least one tenant, or leave tenants out for a token of every tenant`,
      );
    }
    if (!Array.isArray(raw.tenants) || raw.tenants.some((t) => typeof t !== 'string')) {
      throw new ConfigError(`${where}: tenants must be a list of tenant ids`);
    }
    for (const tenant of raw.tenants as string[]) {
      if (!isName(tenant)) {
        throw new ConfigError(`${where}: tenant "${tenant}" must match [A-Za-z0-9_.-]{1,64}`);
      }
    }
    tenants = new Set(raw.tenants as string[]);
  }
  let id = `${DIGEST_PREFIX}${digest.toString('hex').slice(0, 12)}`;
  if (raw.name !== undefined && raw.name !== null) {
    if (typeof raw.name !== 'string' || raw.name === '' || raw.name.length > 64) {
      throw new ConfigError(`${where}: name must be a string of 1 to 64 characters`);
    }
    id = raw.name;
  }
  return { digest, principal: Object.freeze({ id, role: raw.role as Role, tenants }) };
}

/** A token as configured (the secret, or sha256:<hex>) → the digest presented tokens are matched against. */
export function toDigest(token: unknown, where: string): Buffer {
  if (typeof token !== 'string' || token === '') {
    throw new ConfigError(`${where}: token is missing (the token, or sha256:<hex of its SHA-256>)`);
  }
  if (token.startsWith(DIGEST_PREFIX)) {
    const hex = token.slice(DIGEST_PREFIX.length);
    if (!HEX_DIGEST.test(hex)) {
      throw new ConfigError(`${where}: a sha256: token must be followed by 64 hex digits`);
    }
    return Buffer.from(hex, 'hex');
  }
  if (token.length < MIN_TOKEN_LENGTH || token.length > MAX_TOKEN_LENGTH) {
    throw new ConfigError(
      `${where}: token must be ${MIN_TOKEN_LENGTH} to ${MAX_TOKEN_LENGTH} characters; generate one with \`openssl rand -hex 32\``,
    );
  }
  if (!TOKEN_CHARS.test(token)) {
    throw new ConfigError(`${where}: token must be printable ASCII without spaces`);
  }
  return sha256(token);
}

/** Parses ROTA_AUTH_TOKENS: `token:role[:tenant1,tenant2]` entries separated by `;`. */
export function parseTokenList(text: string, source = 'ROTA_AUTH_TOKENS'): TokenEntry[] {
  const entries: TokenEntry[] = [];
  text.split(';').forEach((part, i) => {
    const item = part.trim();
    if (item === '') return;
    const where = `${source} entry ${i + 1}`;
    let token: string;
    let rest: string;
    if (item.startsWith(DIGEST_PREFIX)) {
      const end = item.indexOf(':', DIGEST_PREFIX.length);
      token = end === -1 ? item : item.slice(0, end);
      rest = end === -1 ? '' : item.slice(end + 1);
    } else {
      const end = item.indexOf(':');
      token = end === -1 ? item : item.slice(0, end);
      rest = end === -1 ? '' : item.slice(end + 1);
    }
    const [role = '', tenants, extra] = rest.split(':');
    if (extra !== undefined) {
      throw new ConfigError(`${where}: expected token:role[:tenant1,tenant2], found more fields`);
    }
    entries.push(
      toTokenEntry(
        {
          token,
          role,
          tenants: tenants
            ?.split(',')
            .map((t) => t.trim())
            .filter((t) => t !== ''),
        },
        where,
      ),
    );
  });
  return entries;
}

/** Reads ROTA_AUTH_FILE: JSON, or YAML (any other extension). */
export async function readTokenFile(path: string): Promise<TokenEntry[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`ROTA_AUTH_FILE ${path}: cannot read it (${(error as Error).message})`, {
      cause: error,
    });
  }
  const json = path.endsWith('.json');
  let parsed: unknown;
  try {
    parsed = json ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    const where = syntaxErrorPosition(error, text);
    throw new ConfigError(
      `ROTA_AUTH_FILE ${path} is not valid ${json ? 'JSON' : 'JSON or YAML'}${where === '' ? '' : ` (${where})`}`,
    );
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { tokens?: unknown } | null)?.tokens;
  if (!Array.isArray(list)) {
    throw new ConfigError(
      `ROTA_AUTH_FILE ${path} must hold a list of tokens, or { tokens: [...] }`,
    );
  }
  return list.map((raw: RawToken, i) =>
    toTokenEntry(raw, `ROTA_AUTH_FILE ${path}, entry ${i + 1}`),
  );
}

/**
 * Where a token file fails to parse and, for YAML, the kind of error, but never
 * the parser's message: YAML's quotes the line, JSON's the text around the
 * error, and either may hold a token.
 */
function syntaxErrorPosition(error: unknown, text: string): string {
  if (error instanceof YAMLParseError) {
    const at = error.linePos?.[0];
    return at === undefined ? error.code : `line ${at.line}, column ${at.col}: ${error.code}`;
  }
  const offset = /\bat position (\d+)/.exec(error instanceof Error ? error.message : '')?.[1];
  if (offset === undefined) return '';
  const before = text.slice(0, Number(offset)).split('\n');
  return `line ${before.length}, column ${before.at(-1)!.length + 1}`;
}

/**
 * The token store of a configuration: undefined when neither ROTA_AUTH_FILE nor
 * ROTA_AUTH_TOKENS is set (auth off). A source that holds no token, or one
 * token given twice, stops the start.
 */
export async function loadTokens(options: {
  readonly authFile: string | undefined;
  readonly authTokens: string | undefined;
}): Promise<TokenStore | undefined> {
  if (options.authFile === undefined && options.authTokens === undefined) return undefined;
  const entries: TokenEntry[] = [];
  if (options.authFile !== undefined) {
    const fromFile = await readTokenFile(options.authFile);
    if (fromFile.length === 0) {
      throw new ConfigError(`ROTA_AUTH_FILE ${options.authFile} holds no tokens`);
    }
    entries.push(...fromFile);
  }
  if (options.authTokens !== undefined) {
    const fromEnv = parseTokenList(options.authTokens);
    if (fromEnv.length === 0) throw new ConfigError('ROTA_AUTH_TOKENS holds no tokens');
    entries.push(...fromEnv);
  }
  const seen = new Map<string, string>();
  for (const entry of entries) {
    const hex = entry.digest.toString('hex');
    const other = seen.get(hex);
    if (other !== undefined) {
      throw new ConfigError(
        `the same token is configured twice (${other} and ${entry.principal.id}); give each token one role`,
      );
    }
    seen.set(hex, entry.principal.id);
  }
  return new TokenStore(entries);
}
