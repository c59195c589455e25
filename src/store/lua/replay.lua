-- Moves dead jobs back to their ready stream with a fresh attempt budget.
-- KEYS[1] dead sorted set of the tenant×queue
-- ARGV[1] tenant×queue key base  ARGV[2] job key base  ARGV[3] most jobs when replaying all
-- ARGV[4..] job ids; none = the oldest ARGV[3] dead jobs
-- Returns {replayed, then the ids that were not in the dead letter queue}
-- @include common
local base, jobBase = ARGV[1], ARGV[2]
local ids = {}
if #ARGV >= 4 then
  for i = 4, #ARGV do ids[#ids + 1] = ARGV[i] end
else
  ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)
end
local out = {0}
for _, jobId in ipairs(ids) do
  local jobKey = jobBase .. jobId
  if redis.call('ZREM', KEYS[1], jobId) == 1 and redis.call('HGET', jobKey, 'state') == 'dead' then
    redis.call('PERSIST', jobKey)
    redis.call('HSET', jobKey, 'attempts', 0)
    redis.call('HDEL', jobKey, 'finishedAt')
    make_ready(base, jobKey, jobId, redis.call('HGET', jobKey, 'priority'))
    out[1] = out[1] + 1
  else
    out[#out + 1] = jobId
  end
end
return out
