-- Gives back jobs a stopping broker read ahead and did not lease, and leases
-- no worker got (written for a session that drained or closed meanwhile):
-- each job still waiting on the entry the broker holds, or still leased under
-- the given token (unleased first, so its attempt is not counted), goes to the
-- tail of its ready stream as a new entry no broker has read (the held one is
-- acked and deleted), so any broker's next fetch takes it. Any other job
-- (leased otherwise, cancelled, reclaimed) is left alone. Packed (see
-- packed.ts): one call carries the jobs of many tenant×queues.
-- KEYS[1] any key of the first tenant (routes the call)
-- ARGV[1] the values below (ARGS), packed (see cmsgpack.ts)
-- per tenant×queue: its key base, its job key base, its job count, then per
--   job 4 values: id, entry, priority, lease token ('' for a job read ahead)
-- Returns one cmsgpack-packed list (see cmsgpack.ts), per job in argument
-- order: 1 given back or 0 left alone
-- @include common
local ARGS = packed_args()
local out = {}
each_group(ARGS, 1, 2, function(part, i, n)
  local base, jobBase = part[1], part[2]
  for _ = 1, n do
    local jobId, entry, level, token = ARGS[i], ARGS[i + 1], ARGS[i + 2], ARGS[i + 3]
    local jobKey = jobBase .. jobId
    local job = redis.call('HMGET', jobKey, 'state', 'entry', 'token', 'attempts')
    if token ~= '' and job[1] == 'leased' and job[3] == token then
      unlease(jobKey, tonumber(job[4]) - 1)
      job[1] = 'waiting'
    end
    if job[1] == 'waiting' and job[2] == entry then
      requeue(base, jobKey, jobId, level)
      out[#out + 1] = 1
    else
      out[#out + 1] = 0
    end
    i = i + 4
  end
  return i
end)
return cmsgpack.pack(out)
