-- Turns prefetched jobs into leases: each starts a new attempt under a fresh
-- fencing token. A job that is no longer waiting on the entry the broker holds
-- (cancelled, or reclaimed and re-queued) is skipped. A job under an in-flight
-- cap shared by the brokers is refused when the cap's holdings leave this
-- broker no slot for it, and its slot is recorded when there is one (see
-- leases_beyond_cap and hold_leases in holdings.lua). Packed (see packed.ts):
-- one call carries the jobs of many tenant×queues.
-- KEYS[1] any key of the first tenant (routes the call)
-- ARGV[1] the values below (ARGS), packed (see cmsgpack.ts)
-- ARGS[1] now (ms)  ARGS[2] this broker's consumer name (the holder, and its
--   name in the holdings)  ARGS[3] how long the slots of its leases are kept
--   without a renewal (ms; see holdingTtls)
-- then per tenant×queue: its job key base, its job count, then per job 4
--   values: id, entry, token, attempt number (attempts so far + 1); then the
--   number of shared caps its leases count against, and per cap 3 values:
--   its key, the cap, this broker's leases in flight under it, these included
-- Returns one cmsgpack-packed list (see cmsgpack.ts), per job in argument
-- order: 1 leased (by this call, or by an earlier run of it), 0 skipped, or
-- 2 refused for want of a slot (the job stays waiting on its entry)
-- @include common
-- @include holdings
local ARGS = packed_args()
local now, holder, leasesTtl = ARGS[1], ARGS[2], tonumber(ARGS[3])
local out = {}
each_group(ARGS, 4, 1, function(tenant, first, n)
  local jobBase, capsAt = tenant[1], first + 4 * n
  local replies, fresh = {}, {}
  for k = 1, n do
    local i = first + 4 * (k - 1)
    local job = redis.call('HMGET', jobBase .. ARGS[i], 'state', 'entry', 'token', 'holder')
    if job[1] == 'waiting' and job[2] == ARGS[i + 1] then
      -- whoever holds the entry alone may lease the job, so the fetched count is current
      replies[k] = 1
      fresh[#fresh + 1] = i
    elseif job[1] == 'leased' and job[3] == ARGS[i + 2] and job[4] == holder then
      -- This call ran before and its reply was lost (ioredis sends it again on
      -- its next connection): the lease under this fresh token is that run's.
      replies[k] = 1
    else
      replies[k] = 0
    end
  end
  local capCount, refused = tonumber(ARGS[capsAt]), 0
  if capCount > 0 and #fresh > 0 then
    local redisNow = holdings_now()
    for c = capsAt + 1, capsAt + 3 * capCount, 3 do
      local beyond = leases_beyond_cap(ARGS[c], tonumber(ARGS[c + 1]), tonumber(ARGS[c + 2]), holder, redisNow)
      refused = math.min(#fresh, math.max(refused, beyond))
    end
    if refused < #fresh then
      for c = capsAt + 1, capsAt + 3 * capCount, 3 do
        hold_leases(ARGS[c], holder, tonumber(ARGS[c + 2]) - refused, redisNow, leasesTtl)
      end
    end
  end
  -- the last ones are refused: the broker dispatched them last
  for f, i in ipairs(fresh) do
    if f > #fresh - refused then
      replies[(i - first) / 4 + 1] = 2
    else
      start_lease(jobBase .. ARGS[i], ARGS[i + 2], ARGS[i + 3], now, holder)
    end
  end
  for k = 1, n do out[#out + 1] = replies[k] end
  return capsAt + 1 + 3 * capCount
end)
return cmsgpack.pack(out)
