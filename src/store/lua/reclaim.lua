-- Recovers entries of tenant×queues whose holder stopped renewing them for
-- longer than the lease TTL (a broker that died or hung): a job that was only
-- prefetched goes back to the tail of its stream untouched; a leased job counts
-- as a failed attempt ("lease expired") and is retried or buried. Packed (see
-- packed.ts): one call carries many tenant×queues; a call per tenant took 30%
-- longer (10,000 tenants: 167–199 ms, now 114–128) and 15% more of Redis.
-- What one call reclaims stays bounded: once `limit` entries are taken, the
-- tenant×queues after it are answered as skipped, and the caller sends them again.
-- KEYS[1] any key of the first tenant (routes the call)
-- ARGV[1] the values below (ARGS), packed (see cmsgpack.ts)
-- ARGS[1] consumer  ARGS[2] min idle (ms)  ARGS[3] now (ms)  ARGS[4] random in [0, 1)
-- ARGS[5] retention of a dead job (ms)  ARGS[6] limit: most entries per stream, and
--   the entries after which the call skips the rest
-- then groups of each_group with no header: a count n, then n tenant×queues,
--   each as its tenant×queue key base and its job key base
-- Returns one cmsgpack-packed list (see cmsgpack.ts): per tenant×queue in
-- argument order, 6 values: requeued (-1: skipped, send it again), retrying, dead,
-- earliest run-at in the delayed set or -1, 1 when a ready stream holds entries no
-- broker has read (else 0), entries read and not yet acked (leased or prefetched,
-- by any broker)
-- @include common
local ARGS = packed_args()
local consumer, minIdle, now = ARGS[1], ARGS[2], tonumber(ARGS[3])
local random, deadRetention, limit = tonumber(ARGS[4]), tonumber(ARGS[5]), tonumber(ARGS[6])
local out = {}
local taken = 0

local function reclaim(base, jobBase)
  local result = {0, 0, 0, -1, 0, 0}
  for _, level in ipairs(redis.call('ZRANGE', base .. 'levels', 0, -1)) do
    local stream = base .. 'ready:' .. level
    local claimed = redis.call('XAUTOCLAIM', stream, GROUP, consumer, minIdle, '0-0', 'COUNT', limit)
    taken = taken + #claimed[2]
    for _, item in ipairs(claimed[2]) do
      if item then
        local entry, jobId = item[1], item[2][2]
        local jobKey = jobBase .. jobId
        local job = redis.call('HMGET', jobKey, 'state', 'entry')
        if job[2] ~= entry then
          drop_entries(stream, entry)
        elseif job[1] == 'waiting' then
          release_entry(base, jobKey)
          make_ready(base, jobKey, jobId, level)
          result[1] = result[1] + 1
        elseif job[1] == 'leased' then
          -- a golden-ratio sequence spreads one random number over many jobs
          random = (random + 0.6180339887) % 1
          local outcome = fail_attempt(base, jobKey, jobId, now,
            'lease expired: its holder stopped renewing it', true, 0, random, deadRetention)
          if outcome[1] == 1 then
            result[2] = result[2] + 1
          else
            result[3] = result[3] + 1
          end
        else
          drop_entries(stream, entry)
        end
      end
    end
    -- what is left tells the sweep whether a fetch would find anything
    local pending, unread = group_state(stream)
    result[6] = result[6] + pending
    if unread then result[5] = 1 end
  end
  result[4] = earliest_due(base .. 'delayed') or -1
  return result
end

each_group(ARGS, 7, 0, function(_, i, n)
  for k = i, i + 2 * n - 1, 2 do
    local result = taken < limit and reclaim(ARGS[k], ARGS[k + 1]) or {-1, 0, 0, -1, 0, 0}
    for _, value in ipairs(result) do out[#out + 1] = value end
  end
  return i + 2 * n
end)
return cmsgpack.pack(out)
