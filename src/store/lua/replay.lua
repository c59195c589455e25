-- Moves dead jobs back to their ready stream with a fresh attempt budget,
-- runnable from now: its wait (GetJob's run_at, the wait-time figures) starts
-- at the replay, not at the first enqueue, which would count its time dead.
-- KEYS[1] dead sorted set of the tenant×queue (`<tenant×queue key base>dead`)
-- ARGV: which dead jobs, and the reply: see take_dead.lua
-- @include common
-- @include take_dead
local base = string.sub(KEYS[1], 1, -#'dead' - 1)
return take_dead(function(jobId, jobKey)
  redis.call('PERSIST', jobKey)
  -- no longer the job the attempt that killed it left: a Fail of it run again is stale
  redis.call('HSET', jobKey, 'attempts', 0, 'runAt', ARGV[5], 'endedToken', '')
  redis.call('HDEL', jobKey, 'finishedAt', 'progress', 'progressType')
  make_ready(base, jobKey, jobId, redis.call('HGET', jobKey, 'priority'))
end)
