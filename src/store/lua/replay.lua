-- Moves dead jobs back to their ready stream with a fresh attempt budget.
-- KEYS[1] dead sorted set of the tenant×queue
-- ARGV[1] tenant×queue key base  ARGV[2] job key base
-- ARGV[3] most jobs when replaying all
-- ARGV[4] when replaying all: the latest death time (score) to replay, or ''
--   for the newest dead job's now. A replay of all that takes many calls
--   passes the first call's answer on, so jobs that die again meanwhile (a
--   poison job that fails at once) wait for the next replay, not loop in this one.
-- ARGV[5..] job ids; none = the oldest ARGV[3] dead jobs that died by ARGV[4]
-- Returns {replayed, the death time bound used ('' with ids), then the ids
-- that were not (or no longer) in the dead letter queue}
-- @include common
local base, jobBase = ARGV[1], ARGV[2]
local ids, diedBy = {}, ''
if #ARGV >= 5 then
  for i = 5, #ARGV do ids[#ids + 1] = ARGV[i] end
else
  diedBy = ARGV[4]
  if diedBy == '' then
    diedBy = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2] or '-inf'
  end
  ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', diedBy, 'LIMIT', 0, tonumber(ARGV[3]))
end
local out = {0, diedBy}
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
