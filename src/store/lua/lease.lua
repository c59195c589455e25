-- Turns prefetched jobs of one tenant into leases: each starts a new attempt
-- under a fresh fencing token. A job that is no longer waiting on the entry the
-- broker holds (cancelled, or reclaimed and re-queued) is skipped.
-- KEYS[1] any key of the tenant (routes the call to the tenant's slot)
-- ARGV[1] job key base  ARGV[2] now (ms)  ARGV[3] this broker's consumer name (the holder)
-- then per job, 4 values: id, entry, token, attempt number (attempts so far + 1)
-- Returns per job 1 leased, or 0 when it was skipped
local jobBase, now, holder = ARGV[1], ARGV[2], ARGV[3]
local out = {}
for i = 4, #ARGV, 4 do
  local jobKey = jobBase .. ARGV[i]
  local job = redis.call('HMGET', jobKey, 'state', 'entry')
  if job[1] == 'waiting' and job[2] == ARGV[i + 1] then
    -- whoever holds the entry alone may lease the job, so the fetched count is current
    redis.call('HSET', jobKey, 'state', 'leased', 'token', ARGV[i + 2], 'attempts', ARGV[i + 3],
      'leasedAt', now, 'holder', holder)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
