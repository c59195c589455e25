-- Turns prefetched jobs into leases: each starts a new attempt under a fresh
-- fencing token. A job that is no longer waiting on the entry the broker holds
-- (cancelled, or reclaimed and re-queued) is skipped. Packed (see packed.ts):
-- one call carries the jobs of many tenants.
-- KEYS[1] any key of the first tenant (routes the call)
-- ARGV[1] the values below (ARGS), packed (see cmsgpack.ts)
-- ARGS[1] now (ms)  ARGS[2] this broker's consumer name (the holder)
-- then per tenant: its job key base, its job count, then per job 4 values:
--   id, entry, token, attempt number (attempts so far + 1)
-- Returns one cmsgpack-packed list (see cmsgpack.ts), per job in argument
-- order: 1 leased (by this call, or by an earlier run of it) or 0 skipped
-- @include common
local ARGS = packed_args()
local now, holder = ARGS[1], ARGS[2]
local out = {}
each_group(ARGS, 3, 1, function(tenant, i, n)
  for _ = 1, n do
    local jobKey = tenant[1] .. ARGS[i]
    local job = redis.call('HMGET', jobKey, 'state', 'entry', 'token', 'holder')
    if job[1] == 'waiting' and job[2] == ARGS[i + 1] then
      -- whoever holds the entry alone may lease the job, so the fetched count is current
      start_lease(jobKey, ARGS[i + 2], ARGS[i + 3], now, holder)
      out[#out + 1] = 1
    elseif job[1] == 'leased' and job[3] == ARGS[i + 2] and job[4] == holder then
      -- This call ran before and its reply was lost (ioredis sends it again on
      -- its next connection): the lease under this fresh token is that run's.
      out[#out + 1] = 1
    else
      out[#out + 1] = 0
    end
    i = i + 4
  end
  return i
end)
return cmsgpack.pack(out)
