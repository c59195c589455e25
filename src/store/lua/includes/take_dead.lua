-- Takes jobs out of a tenant×queue's dead letter queue, KEYS[1], and hands
-- each to act(jobId, jobKey). ARGV[1] is the tenant's job key base; dead
-- letters that died by ARGV[2] are past their retention and leave the set
-- first (their job hashes have expired). ARGV[5] is now (ms). Which jobs: the
-- ids in ARGV[6..]; with none, the oldest ARGV[3] that died by ARGV[4] ('' =
-- by the newest death now). A call over the whole queue that
-- takes many steps passes the first step's bound on, so jobs that die again
-- meanwhile (a poison job failing at once after a replay) wait for the next
-- call instead of looping in this one.
-- Returns {jobs taken, the death time bound used ('' with ids), then the ids
-- that were not (or no longer) in the dead letter queue}
local function take_dead(act)
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
  local ids, diedBy = {}, ''
  if #ARGV >= 6 then
    for i = 6, #ARGV do ids[#ids + 1] = ARGV[i] end
  else
    diedBy = ARGV[4]
    if diedBy == '' then
      diedBy = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2] or '-inf'
    end
    ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', diedBy, 'LIMIT', 0, tonumber(ARGV[3]))
  end
  local out = {0, diedBy}
  for _, jobId in ipairs(ids) do
    local jobKey = ARGV[1] .. jobId
    if redis.call('ZREM', KEYS[1], jobId) == 1 and redis.call('HGET', jobKey, 'state') == 'dead' then
      act(jobId, jobKey)
      out[1] = out[1] + 1
    else
      out[#out + 1] = jobId
    end
  end
  return out
end
