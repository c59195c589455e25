import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import type { Logger } from 'pino';
import type { TenantLimits } from '../scheduler/index.js';
import { resolveQueueOverride, resolveTenantSettings } from '../scheduler/settings.js';
import type { QueueOverride, StoredTenant, TenantStore } from '../store/tenant-store.js';
import { BrokerError, invalidArgument, quoted } from './errors.js';
import { checkName, checkQueue } from './validation.js';

/** A SetTenant request in domain terms: unset fields keep their stored value. */
export interface TenantUpdate extends QueueOverride {
  readonly tenant: string;
  readonly maxQueued?: number;
  /** Queue overrides given change the fields they set; one that sets none clears its queue's. */
  readonly queues?: ReadonlyArray<QueueOverride & { readonly queue: string }>;
}

/** What GetTenant shows: the stored values with the defaults filled in. */
export interface TenantView {
  readonly tenant: string;
  readonly weight: number;
  readonly rate: number;
  readonly burst: number;
  readonly maxInFlight: number;
  readonly paused: boolean;
  readonly maxQueued: number;
  readonly queues: ReadonlyArray<QueueOverride & { readonly queue: string }>;
}

const MAX_QUEUE_OVERRIDES = 256;

export interface TenantRegistryOptions {
  /** Called after settings changed, so dispatchers re-evaluate parked tenants. */
  readonly onApplied?: () => void;
  /**
   * Merges one SetTenant tries before it gives up (UNAVAILABLE): each one lost
   * means another call's change of the tenant landed meanwhile (see set), so
   * up to this many calls of one tenant at once all succeed.
   * @default 100
   */
  readonly maxMergeAttempts?: number;
}

/**
 * Tenant settings: validated, persisted in Redis, and applied live to this
 * broker's limits (weights, token buckets, in-flight caps) and queue limits.
 * Other brokers apply a change when its pub/sub announcement arrives; a full
 * reload every few seconds repairs a missed announcement.
 */
export class TenantRegistry {
  private readonly maxQueuedOf = new Map<string, number>();
  private readonly applied = new Map<string, StoredTenant>();
  /** The restoreFile under way: a reconnect and the periodic check may ask at once. */
  private restoring: Promise<void> | undefined;

  private readonly onApplied: () => void;
  private readonly maxMergeAttempts: number;

  constructor(
    private readonly store: TenantStore,
    private readonly limits: TenantLimits,
    private readonly logger: Logger,
    options: TenantRegistryOptions = {},
  ) {
    this.onApplied = options.onApplied ?? (() => {});
    this.maxMergeAttempts = options.maxMergeAttempts ?? 100;
  }

  /** The queue limit of a tenant (0 = none). */
  maxQueued(tenant: string): number {
    return this.maxQueuedOf.get(tenant) ?? 0;
  }

  /**
   * Validates, stores and applies an update. Logged by whoever asked, which
   * knows by whom: SetTenant's audit line at the gRPC edge, or loadFile.
   * Fields left unset keep their stored value, a queue override's too: pausing
   * a queue must not drop the weight and caps stored for it. A queue override
   * that sets nothing at all clears that queue's override, whose fields then
   * follow the tenant's again.
   */
  async set(update: TenantUpdate): Promise<TenantView> {
    checkNames(update);
    // Merged here and stored only if nobody stored another change meanwhile
    // (each lost race means another call's change landed), so that calls at
    // once each keep the others' changes.
    for (let attempt = 1; attempt <= this.maxMergeAttempts; attempt++) {
      const { settings, version } = await this.store.read(update.tenant);
      const merged = mergeUpdate(settings ?? { queues: {} }, update);
      check(update.tenant, merged);
      if (await this.store.put(update.tenant, merged, version)) {
        this.apply(update.tenant, merged);
        return view(update.tenant, merged);
      }
    }
    throw new BrokerError(
      'unavailable',
      `tenant ${quoted(update.tenant)}: its settings changed ${this.maxMergeAttempts} times while this call merged its update into them, so nothing of it was stored; retry`,
    );
  }

  async get(tenant: string): Promise<TenantView> {
    checkName('tenant', tenant);
    return view(tenant, (await this.store.get(tenant)) ?? { queues: {} });
  }

  async list(): Promise<TenantView[]> {
    return [...(await this.store.getAll())].map(([tenant, stored]) => view(tenant, stored));
  }

  /** Applies one tenant's stored settings (after an announcement from another broker). */
  async reload(tenant: string): Promise<void> {
    const stored = await this.store.get(tenant);
    if (stored) this.apply(tenant, stored);
  }

  /**
   * Applies every tenant found in Redis. A tenant not found keeps what was
   * applied: after Redis lost its keys, this broker goes on with the settings
   * it had until restoreFile writes them again.
   */
  async reloadAll(): Promise<void> {
    for (const [tenant, stored] of await this.store.getAll()) this.apply(tenant, stored);
  }

  /**
   * Applies the tenants file again when Redis lost its keys since it was
   * applied (its marker is gone); a mere reconnect finds the marker, so the
   * SetTenant changes made since stay. Until then GetTenant shows the
   * defaults and a SetTenant merges with them. Two brokers that both notice
   * both apply the file: the same settings twice.
   */
  restoreFile(path: string): Promise<void> {
    this.restoring ??= this.restoreIfLost(path).finally(() => {
      this.restoring = undefined;
    });
    return this.restoring;
  }

  private async restoreIfLost(path: string): Promise<void> {
    if (await this.store.fileApplied()) return;
    const count = await this.loadFile(path);
    this.logger.warn(
      { tenantsFile: path, count },
      'Redis lost the tenant settings (restarted without persistence, failed over to an empty replica, or flushed): applied the tenants file again',
    );
  }

  /**
   * Loads a JSON or YAML file: a list of tenants, or `{ tenants: [...] }`, each
   * as SetTenant takes it (field names as in the proto, `max_in_flight`, or in
   * camelCase, `maxInFlight`). Then marks Redis as holding them (restoreFile);
   * a load that fails part way leaves the mark as it was.
   */
  async loadFile(path: string): Promise<number> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      throw invalidArgument(
        `ROTA_TENANTS_FILE ${path}: cannot read it (${(error as Error).message})`,
      );
    }
    let parsed: unknown;
    try {
      parsed = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
    } catch (error) {
      throw new BrokerError(
        'invalid_argument',
        `tenants file ${path} is not valid JSON or YAML: ${String(error)}`,
      );
    }
    const list = Array.isArray(parsed) ? parsed : (parsed as { tenants?: unknown })?.tenants;
    if (!Array.isArray(list)) {
      throw invalidArgument(
        `tenants file ${path} must hold a list of tenants, or { tenants: [...] }`,
      );
    }
    // Every entry is checked before any is stored: a file refused part way
    // left its first entries in Redis, written by a broker that did not start.
    const updates: TenantUpdate[] = [];
    for (const [index, entry] of list.entries()) {
      updates.push(await this.checkedEntry(entry, `${path}: tenants[${index}]`));
    }
    for (const update of updates) {
      const { tenant, ...settings } = await this.set(update);
      this.logger.info({ tenantsFile: path, tenant, settings }, 'tenant settings changed');
    }
    await this.store.markFileApplied();
    return list.length;
  }

  /** An entry of a tenants file, checked as set() will check it; errors name the entry. */
  private async checkedEntry(entry: unknown, where: string): Promise<TenantUpdate> {
    const update = toUpdate(entry, where);
    try {
      checkNames(update);
      const { settings } = await this.store.read(update.tenant);
      check(update.tenant, mergeUpdate(settings ?? { queues: {} }, update));
    } catch (error) {
      if (error instanceof BrokerError && error.code === 'invalid_argument') {
        throw invalidArgument(`${where}: ${error.message}`);
      }
      throw error;
    }
    return update;
  }

  private apply(tenant: string, stored: StoredTenant): void {
    const previous = this.applied.get(tenant);
    if (previous && JSON.stringify(previous) === JSON.stringify(stored)) return;
    this.applied.set(tenant, stored);
    const { queues, maxQueued, ...settings } = stored;
    this.limits.setTenant(tenant, settings);
    for (const queue of Object.keys(previous?.queues ?? {})) {
      if (!(queue in queues)) this.limits.setQueueOverride(tenant, queue, undefined);
    }
    for (const [queue, override] of Object.entries(queues)) {
      this.limits.setQueueOverride(tenant, queue, override);
    }
    if (maxQueued) this.maxQueuedOf.set(tenant, maxQueued);
    else this.maxQueuedOf.delete(tenant);
    this.onApplied();
  }
}

/** The names an update gives, and how many queue overrides. */
function checkNames(update: TenantUpdate): void {
  checkName('tenant.tenant', update.tenant);
  if ((update.queues?.length ?? 0) > MAX_QUEUE_OVERRIDES) {
    throw invalidArgument(
      `tenant.queues has ${update.queues?.length} overrides; the limit is ${MAX_QUEUE_OVERRIDES}`,
    );
  }
  for (const { queue } of update.queues ?? []) checkQueue('tenant.queues[].queue', queue);
}

/**
 * An update merged into stored settings: unset fields keep their stored
 * value, a queue override's too, and an override that sets nothing clears
 * its queue's.
 */
function mergeUpdate(current: StoredTenant, update: TenantUpdate): StoredTenant {
  const queues: Record<string, QueueOverride> = { ...current.queues };
  for (const { queue, ...override } of update.queues ?? []) {
    const given = definedFields(override);
    if (Object.keys(given).length === 0) delete queues[queue];
    else queues[queue] = { ...current.queues[queue], ...given };
  }
  return {
    ...definedFields({
      weight: update.weight ?? current.weight,
      rate: update.rate ?? current.rate,
      burst: update.burst ?? current.burst,
      maxInFlight: update.maxInFlight ?? current.maxInFlight,
      paused: update.paused ?? current.paused,
      maxQueued: update.maxQueued ?? current.maxQueued,
    }),
    queues,
  };
}

function definedFields<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** The scheduler's own validation, reported as INVALID_ARGUMENT. */
function check(tenant: string, stored: StoredTenant): void {
  try {
    const { queues, maxQueued, ...settings } = stored;
    resolveTenantSettings(settings, `tenant "${tenant}"`);
    for (const [queue, override] of Object.entries(queues)) {
      resolveQueueOverride(override, `tenant "${tenant}" queue "${queue}"`);
    }
    if (maxQueued !== undefined && (!Number.isSafeInteger(maxQueued) || maxQueued < 0)) {
      throw new RangeError(
        `tenant "${tenant}": maxQueued must be an integer ≥ 0 (0 = unlimited), got ${maxQueued}`,
      );
    }
  } catch (error) {
    if (error instanceof RangeError || error instanceof TypeError)
      throw invalidArgument(error.message);
    throw error;
  }
}

function view(tenant: string, stored: StoredTenant): TenantView {
  return {
    tenant,
    weight: stored.weight ?? 1,
    rate: stored.rate ?? 0,
    burst: stored.burst ?? 0,
    maxInFlight: stored.maxInFlight ?? 0,
    paused: stored.paused ?? false,
    maxQueued: stored.maxQueued ?? 0,
    queues: Object.entries(stored.queues).map(([queue, override]) => ({ queue, ...override })),
  };
}

const TENANT_FIELDS: Readonly<Record<string, keyof TenantUpdate>> = {
  tenant: 'tenant',
  weight: 'weight',
  rate: 'rate',
  burst: 'burst',
  max_in_flight: 'maxInFlight',
  maxInFlight: 'maxInFlight',
  paused: 'paused',
  max_queued: 'maxQueued',
  maxQueued: 'maxQueued',
  queues: 'queues',
};
const QUEUE_FIELDS: Readonly<Record<string, string>> = {
  queue: 'queue',
  weight: 'weight',
  rate: 'rate',
  burst: 'burst',
  max_in_flight: 'maxInFlight',
  maxInFlight: 'maxInFlight',
  paused: 'paused',
};

/** One entry of a tenants file as a TenantUpdate; an unknown field is an error, not ignored. */
function toUpdate(entry: unknown, where: string): TenantUpdate {
  const rename = (
    value: unknown,
    fields: Readonly<Record<string, string>>,
    at: string,
  ): Record<string, unknown> => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw invalidArgument(`${at} must be an object`);
    }
    const out: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(value)) {
      const name = fields[key];
      if (!name)
        throw invalidArgument(
          `${at} has an unknown field ${quoted(key)}; known: ${Object.keys(fields).join(', ')}`,
        );
      out[name] = field;
    }
    return out;
  };
  const update = rename(entry, TENANT_FIELDS, where);
  if (update.queues !== undefined) {
    if (!Array.isArray(update.queues)) throw invalidArgument(`${where}.queues must be a list`);
    update.queues = update.queues.map((q, i) => rename(q, QUEUE_FIELDS, `${where}.queues[${i}]`));
  }
  return update as unknown as TenantUpdate;
}
