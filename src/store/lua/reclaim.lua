-- Recovers entries of a tenant×queue whose holder stopped renewing them for
-- longer than the lease TTL (a broker that died or hung): a job that was only
-- prefetched goes back to the tail of its stream untouched; a leased job counts
-- as a failed attempt ("lease expired") and is retried or buried.
-- KEYS[1] levels sorted set
-- ARGV[1] tenant×queue key base  ARGV[2] job key base  ARGV[3] consumer
-- ARGV[4] min idle (ms)  ARGV[5] now (ms)  ARGV[6] random in [0, 1)
-- ARGV[7] retention of a dead job (ms)  ARGV[8] most entries per stream
-- Returns {requeued, retrying, dead, earliest run-at in the delayed set or -1,
--   1 when a ready stream holds entries no broker has read (else 0),
--   entries read and not yet acked (leased or prefetched, by any broker)}
-- @include common
local base, jobBase, now = ARGV[1], ARGV[2], tonumber(ARGV[5])
local random = tonumber(ARGV[6])
local out = {0, 0, 0, -1, 0, 0}
for _, level in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local stream = base .. 'ready:' .. level
  local claimed = redis.call('XAUTOCLAIM', stream, GROUP, ARGV[3], ARGV[4], '0-0', 'COUNT', ARGV[8])
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
        out[1] = out[1] + 1
      elseif job[1] == 'leased' then
        -- a golden-ratio sequence spreads one random number over many jobs
        random = (random + 0.6180339887) % 1
        local outcome = fail_attempt(base, jobKey, jobId, now,
          'lease expired: its holder stopped renewing it', true, 0, random, tonumber(ARGV[7]))
        if outcome[1] == 1 then
          out[2] = out[2] + 1
        else
          out[3] = out[3] + 1
        end
      else
        drop_entries(stream, entry)
      end
    end
  end
  -- what is left tells the sweep whether a fetch would find anything
  local pending, unread = group_state(stream)
  out[6] = out[6] + pending
  if unread then out[5] = 1 end
end
out[4] = earliest_due(base .. 'delayed') or -1
return out
