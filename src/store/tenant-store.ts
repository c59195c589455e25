import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import { runScript } from './scripts.js';

/** Scheduling knobs of a tenant×queue override; unset fields inherit the tenant's. */
export interface QueueOverride {
  readonly weight?: number;
  readonly rate?: number;
  readonly burst?: number;
  readonly maxInFlight?: number;
  readonly paused?: boolean;
}

/** A tenant's stored settings; unset fields take the broker defaults. */
export interface StoredTenant extends QueueOverride {
  readonly maxQueued?: number;
  readonly queues: Readonly<Record<string, QueueOverride>>;
}

/**
 * Tenant settings in Redis, outside the tenant slots: one JSON string per
 * tenant, a set naming them, and the marker of an applied tenants file. A
 * write is announced on a pub/sub channel so every broker applies it at once.
 */
export class TenantStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  async get(tenant: string): Promise<StoredTenant | undefined> {
    return (await this.read(tenant)).settings;
  }

  /** A tenant's settings and their version: what put() checks is still stored. */
  async read(tenant: string): Promise<{ settings: StoredTenant | undefined; version: string }> {
    const text = await this.redis.get(this.keys.tenantSettings(tenant));
    return text === null
      ? { settings: undefined, version: '' }
      : { settings: JSON.parse(text) as StoredTenant, version: text };
  }

  async getAll(): Promise<Map<string, StoredTenant>> {
    const tenants = (await this.redis.smembers(this.keys.tenantIndex())).sort();
    const all = new Map<string, StoredTenant>();
    if (tenants.length === 0) return all;
    const texts = await this.redis.mget(tenants.map((t) => this.keys.tenantSettings(t)));
    tenants.forEach((tenant, i) => {
      const text = texts[i];
      if (text) all.set(tenant, JSON.parse(text) as StoredTenant);
    });
    return all;
  }

  /**
   * Whether the marker of markFileApplied is still there. A reconnect finds
   * it; a Redis that lost its keys (restarted without persistence, failed over
   * to an empty replica, flushed) does not, and the settings were lost with it.
   */
  async fileApplied(): Promise<boolean> {
    return (await this.redis.exists(this.keys.tenantsFileMarker())) === 1;
  }

  /** Marks the tenants file's settings as written to this Redis (the value: when). */
  async markFileApplied(): Promise<void> {
    await this.redis.set(this.keys.tenantsFileMarker(), new Date().toISOString());
  }

  /**
   * Stores a tenant's settings and announces them, if the stored ones are
   * still of `version` (see read); false, storing nothing, when they changed.
   */
  async put(tenant: string, settings: StoredTenant, version: string): Promise<boolean> {
    const stored = await runScript(
      this.redis,
      'put_tenant',
      [this.keys.tenantSettings(tenant)],
      [
        version,
        JSON.stringify(settings),
        this.keys.tenantIndex(),
        this.keys.settingsChanged(),
        tenant,
      ],
    );
    return stored === 1;
  }
}
