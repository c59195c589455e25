-- Stores a tenant's settings if they are still those the caller read: a
-- compare-and-set. SetTenant merges an update into the stored settings in the
-- broker, so two calls for one tenant at once (on one broker or two) each
-- wrote their own merge, and the later one undid the earlier one's change.
-- Announces the change, so every broker applies it.
-- KEYS[1] the tenant's settings key
-- ARGV[1] the settings as read ('' = none stored)  ARGV[2] the new settings (JSON)
-- ARGV[3] the tenant index key  ARGV[4] the settings-changed channel  ARGV[5] tenant
-- Returns 1 stored | 0 changed since they were read (read again and merge again)
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SADD', ARGV[3], ARGV[5])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
