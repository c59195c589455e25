export type { Clock } from './clock.js';
export {
  DEFAULT_TENANT_SETTINGS,
  effectiveBurst,
  resolveQueueOverride,
  resolveTenantSettings,
  type TenantSettings,
} from './settings.js';
export { TokenBucket } from './token-bucket.js';
export { SharedTokens, tokensWanted, type TokenRequest } from './shared-tokens.js';
export { TenantLimits, type SharedLimits } from './tenant-limits.js';
export {
  SharedSlots,
  RENEW_MS,
  HOLDING_TTL_MS,
  USABLE_MS,
  holdingTtls,
  sweepIntervalMs,
  type HoldingTtls,
  type SlotCount,
  type SlotRequest,
} from './shared-slots.js';
export { FairScheduler, type FairSchedulerOptions, type TenantState } from './fair-scheduler.js';
export { WeightedLine } from './weighted-line.js';
