-- Stores a running job's progress, fenced by the lease token.
-- KEYS[1] job hash
-- ARGV[1] lease token  ARGV[2] progress data  ARGV[3] its media type ('' = none)
-- Returns 0 stored | 1 stale token | 2 no such job
local job = redis.call('HMGET', KEYS[1], 'state', 'token')
if not job[1] then return 2 end
if job[1] ~= 'leased' or job[2] ~= ARGV[1] then return 1 end
redis.call('HSET', KEYS[1], 'progress', ARGV[2], 'progressType', ARGV[3])
return 0
