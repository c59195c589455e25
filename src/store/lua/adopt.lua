-- Moves a lease to this broker when a worker re-attaches it here, fenced by
-- its token, so the broker that held it before cannot expire it any more.
-- A lease another broker held also takes a slot of each in-flight cap it
-- counts against, in this broker's holding (see hold_slots.lua), in the same
-- step. Why: the other broker learns that the lease moved only when Redis
-- refuses its expiry or ack of it as stale, and then no longer counts it; had
-- the slot not moved with the lease, a dispatch anywhere could take it while
-- the job still ran here, and the tenant ran more jobs at once than its cap.
-- KEYS[1] job hash
-- ARGV[1] lease token  ARGV[2] this broker's consumer name  ARGV[3] TTL of a holding (ms)
-- ARGV[4..] the keys of the in-flight caps the job counts against (holdings.lua)
-- Returns 1 adopted | 0 the lease is not current
-- @include holdings
local job = redis.call('HMGET', KEYS[1], 'state', 'token', 'holder')
if job[1] ~= 'leased' or job[2] ~= ARGV[1] then return 0 end
if job[3] ~= ARGV[2] then
  redis.call('HSET', KEYS[1], 'holder', ARGV[2])
  local now = holdings_now()
  for i = 4, #ARGV do
    redis.call('HINCRBY', ARGV[i], ARGV[2], 1)
    renew_holding(ARGV[i], ARGV[2], now, tonumber(ARGV[3]))
  end
end
return 1
