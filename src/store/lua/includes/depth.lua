-- The depth of a tenant×queue (key base `base`): jobs waiting, leased (read by
-- a broker: leased or prefetched), delayed, dead, and the time (ms) the oldest
-- waiting job became runnable (its entry's, or for a job given back, its
-- runAt: see requeue in common.lua) or -1. Its writes: dead letters that died
-- at or before `expiredBy` (past their retention) leave the dead set first.
-- Their job hashes have expired, and the set is otherwise trimmed only when
-- another job of the tenant×queue dies, so they were counted for good. And
-- requeued entries no longer waiting unread leave the set of those: a read, a
-- cancellation and a purge take theirs out at once, this any left over (from
-- a broker of a version before that).
local function queue_depth(base, expiredBy)
  local waiting, leased, oldest = 0, 0, -1
  local readUpTo = {}
  for _, level in ipairs(redis.call('ZRANGE', base .. 'levels', 0, -1)) do
    local stream = base .. 'ready:' .. level
    local pending, first, lastDelivered = group_state(stream)
    readUpTo[level] = lastDelivered
    leased = leased + pending
    waiting = waiting + redis.call('XLEN', stream) - pending
    -- entries after the group's last delivered id were never read: the oldest waiting job
    if first then
      local ms = tonumber(string.match(first[1], '^(%d+)'))
      if oldest == -1 or ms < oldest then oldest = ms end
    end
  end
  local requeued = base .. 'requeued'
  for _ = 1, redis.call('ZCARD', requeued) do
    local member, since = unpack(redis.call('ZRANGE', requeued, 0, 0, 'WITHSCORES'))
    local level, entry = string.match(member, '^(%d+)/(.+)$')
    local lastDelivered = readUpTo[level]
    if lastDelivered and entry_after(entry, lastDelivered)
        and redis.call('XRANGE', base .. 'ready:' .. level, entry, entry)[1] then
      since = tonumber(since)
      if oldest == -1 or since < oldest then oldest = since end
      break
    end
    redis.call('ZREM', requeued, member)
  end
  redis.call('ZREMRANGEBYSCORE', base .. 'dead', '-inf', expiredBy)
  return waiting, leased, redis.call('ZCARD', base .. 'delayed'), redis.call('ZCARD', base .. 'dead'), oldest
end
