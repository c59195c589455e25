-- The depth of a tenant×queue (key base `base`): jobs waiting, leased (read by
-- a broker: leased or prefetched), delayed, dead, and the enqueue time (ms) of
-- the oldest waiting job or -1. Its one write: dead letters that died at or
-- before `expiredBy` (past their retention) leave the dead set first. Their
-- job hashes have expired, and the set is otherwise trimmed only when another
-- job of the tenant×queue dies, so they were counted for good.
local function queue_depth(base, expiredBy)
  local waiting, leased, oldest = 0, 0, -1
  for _, level in ipairs(redis.call('ZRANGE', base .. 'levels', 0, -1)) do
    local stream = base .. 'ready:' .. level
    local pending, first = group_state(stream)
    leased = leased + pending
    waiting = waiting + redis.call('XLEN', stream) - pending
    -- entries after the group's last delivered id were never read: the oldest waiting job
    if first then
      local ms = tonumber(string.match(first[1], '^(%d+)'))
      if oldest == -1 or ms < oldest then oldest = ms end
    end
  end
  redis.call('ZREMRANGEBYSCORE', base .. 'dead', '-inf', expiredBy)
  return waiting, leased, redis.call('ZCARD', base .. 'delayed'), redis.call('ZCARD', base .. 'dead'), oldest
end
