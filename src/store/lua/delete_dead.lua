-- Deletes dead jobs for good: out of the dead letter queue, and their records.
-- KEYS[1] dead sorted set of the tenant×queue
-- ARGV: which dead jobs, and the reply: see take_dead.lua
-- @include take_dead
return take_dead(function(_, jobKey)
  redis.call('DEL', jobKey)
end)
