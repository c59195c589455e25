import type { BrokerContext } from './broker-context.js';
import type { TenantRegistry } from './tenants.js';

/**
 * Tenant settings kept as Redis and the tenants file say: loaded at start,
 * the file's applied again when Redis comes back without them, all reloaded
 * now and then.
 */
export class SettingsUpkeep {
  constructor(
    private readonly context: BrokerContext,
    private readonly tenants: TenantRegistry,
  ) {}

  async load(): Promise<void> {
    const { config, redis, logger } = this.context;
    await this.tenants.reloadAll();
    const { tenantsFile } = config;
    if (tenantsFile) {
      const count = await this.tenants.loadFile(tenantsFile);
      logger.info({ tenantsFile, count }, 'loaded tenant settings');
      // A Redis back without its keys lost the file's settings with them.
      redis.on('ready', () => void this.restoreTenantsFile(tenantsFile));
    }
  }

  /** The periodic repair (see Broker.start). */
  async refresh(): Promise<void> {
    const { tenantsFile } = this.context.config;
    // While Redis is down the check would only fail: the reconnect makes it.
    if (tenantsFile && this.context.redis.status === 'ready') {
      await this.restoreTenantsFile(tenantsFile);
    }
    try {
      await this.tenants.reloadAll();
    } catch (error) {
      this.context.logger.error({ err: error }, 'reloading tenant settings failed');
    }
  }

  private async restoreTenantsFile(tenantsFile: string): Promise<void> {
    try {
      await this.tenants.restoreFile(tenantsFile);
    } catch (error) {
      this.context.logger.error(
        { err: error, tenantsFile },
        'could not check that Redis still holds the settings of the tenants file, or apply it again; retrying in a few seconds',
      );
    }
  }
}
