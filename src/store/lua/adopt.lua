-- Moves a lease to this broker when a worker re-attaches it here, fenced by
-- its token, so the broker that held it before cannot expire it any more.
-- KEYS[1] job hash
-- ARGV[1] lease token  ARGV[2] this broker's consumer name
-- Returns 1 adopted | 0 the lease is not current
local job = redis.call('HMGET', KEYS[1], 'state', 'token')
if job[1] ~= 'leased' or job[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'holder', ARGV[2])
return 1
