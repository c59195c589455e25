-- Depth of one tenant×queue, read only.
-- KEYS[1] levels sorted set  KEYS[2] delayed sorted set  KEYS[3] dead sorted set
-- ARGV[1] tenant×queue key base
-- Returns {waiting, leased (read by a broker: leased or prefetched), delayed, dead,
--          enqueue time (ms) of the oldest waiting job or -1}
-- @include common
local base = ARGV[1]
local waiting, leased, oldest = 0, 0, -1
for _, level in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
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
return {waiting, leased, redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3]), oldest}
