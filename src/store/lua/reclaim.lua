-- Recovers entries of tenant×queues whose holder stopped renewing them for
-- longer than the lease TTL (a broker that died or hung): a job that was only
-- prefetched goes back to the tail of its stream untouched; a leased job counts
-- as a failed attempt ("lease expired") and is retried or buried, and its slot
-- of each in-flight cap it counts against leaves its holder's holding (see
-- drop_leased_slot in holdings.lua) in the same step. Why here: the slot
-- lapsed by time only, a lease TTL and a second after the holder's last
-- renewal, while the sweep reclaims the lease up to half a TTL after it is
-- idle for a TTL: in between, other brokers dispatched into the slot while
-- the job still counted as leased (its worker maybe running it still), and
-- the tenant ran more jobs at once than its cap. Now the slot goes with the
-- reclaim, and its lapse by time, a backstop, comes later (see holdingTtls).
-- Packed (see packed.ts): one call carries many tenant×queues; a call per
-- tenant took 30% longer (10,000 tenants: 167–199 ms, now 114–128) and 15%
-- more of Redis.
-- What one call does stays bounded: once `limit` entries are taken, or `scans`
-- XAUTOCLAIMs are spent, the call stops where it is and answers, per
-- tenant×queue, the point to go on from; the caller sends those again.
-- Why the scans count: an XAUTOCLAIM looks at no more than 10 × COUNT entries
-- of the pending list, idle or not, and answers the id to go on from. Each
-- sweep starting again from 0-0 looked only at the first 2,000 entries, so a
-- dead broker's entry behind 2,000 live ones was never reclaimed.
-- KEYS[1] any key of the first tenant (routes the call)
-- ARGV[1] the values below (ARGS), packed (see cmsgpack.ts)
-- ARGS[1] consumer  ARGS[2] min idle (ms)  ARGS[3] now (ms)  ARGS[4] random in [0, 1)
-- ARGS[5] retention of a dead job (ms)  ARGS[6] limit: most entries per stream, and
--   the entries after which the call stops  ARGS[7] scans: most XAUTOCLAIMs per call
-- then groups of each_group with no header: a count n, then n tenant×queues,
--   each as its tenant×queue key base, its job key base, where to begin (a
--   priority level, '-inf' = the lowest, and an entry id of its stream, '0-0'),
--   a count c and the keys of the c in-flight caps its jobs count against
-- Returns one cmsgpack-packed list (see cmsgpack.ts): per tenant×queue in
-- argument order, 8 values, counting what this call did: requeued, retrying, dead,
-- earliest run-at in the delayed set or -1, 1 when a ready stream holds entries no
-- broker has read (else 0), entries read and not yet acked (leased or prefetched,
-- by any broker), then the level and entry id to go on from, the id '' when done
-- (the run-at is only given then; the last two counts cover the levels finished)
-- @include common
-- @include holdings
local ARGS = packed_args()
local consumer, minIdle, now = ARGS[1], ARGS[2], tonumber(ARGS[3])
local random, deadRetention, limit = tonumber(ARGS[4]), tonumber(ARGS[5]), tonumber(ARGS[6])
local scansLeft = tonumber(ARGS[7])
local out = {}
local taken = 0
-- Redis's clock, which holdings lapse by: read at the first slot taken.
local slotsNow

-- The reclaimed lease of `holder` leaves its holding of each cap in `caps`.
local function drop_slots(caps, holder)
  if #caps == 0 or not holder then return end
  slotsNow = slotsNow or holdings_now()
  for _, key in ipairs(caps) do drop_leased_slot(key, holder, slotsNow) end
end

-- Takes the idle entries of one stream from `cursor` on; answers the id to go
-- on from when the call's bounds stop it first, else nil.
local function reclaim_stream(base, jobBase, caps, level, cursor, result)
  local stream = base .. 'ready:' .. level
  repeat
    if taken >= limit or scansLeft == 0 then return cursor end
    scansLeft = scansLeft - 1
    local claimed = redis.call('XAUTOCLAIM', stream, GROUP, consumer, minIdle, cursor, 'COUNT', limit)
    cursor = claimed[1]
    taken = taken + #claimed[2]
    for _, item in ipairs(claimed[2]) do
      if item then
        local entry, jobId = item[1], item[2][2]
        local jobKey = jobBase .. jobId
        local job = redis.call('HMGET', jobKey, 'state', 'entry', 'holder')
        if job[2] ~= entry then
          drop_entries(stream, entry)
        elseif job[1] == 'waiting' then
          requeue(base, jobKey, jobId, level)
          result[1] = result[1] + 1
        elseif job[1] == 'leased' then
          -- a golden-ratio sequence spreads one random number over many jobs
          random = (random + 0.6180339887) % 1
          local outcome = fail_attempt(base, jobKey, jobId, now,
            'lease expired: its holder stopped renewing it', true, 0, random, deadRetention, '')
          if outcome[1] == 1 then
            result[2] = result[2] + 1
          else
            result[3] = result[3] + 1
          end
          drop_slots(caps, job[3])
        else
          drop_entries(stream, entry)
        end
      end
    end
  until cursor == '0-0'
  -- what is left tells the sweep whether a fetch would find anything
  local pending, unread = group_state(stream)
  result[6] = result[6] + pending
  if unread then result[5] = 1 end
  return nil
end

local function reclaim(base, jobBase, caps, fromLevel, cursor)
  local result = {0, 0, 0, -1, 0, 0, fromLevel, cursor}
  for _, level in ipairs(redis.call('ZRANGE', base .. 'levels', fromLevel, '+inf', 'BYSCORE')) do
    local stopped = reclaim_stream(base, jobBase, caps, level, cursor, result)
    if stopped then
      result[7], result[8] = level, stopped
      return result
    end
    cursor = '0-0'
  end
  result[4] = earliest_due(base .. 'delayed') or -1
  result[8] = ''
  return result
end

each_group(ARGS, 8, 0, function(_, i, n)
  for _ = 1, n do
    local capCount = tonumber(ARGS[i + 4])
    local caps = {unpack(ARGS, i + 5, i + 4 + capCount)}
    local result = reclaim(ARGS[i], ARGS[i + 1], caps, ARGS[i + 2], ARGS[i + 3])
    for _, value in ipairs(result) do out[#out + 1] = value end
    i = i + 5 + capCount
  end
  return i
end)
return cmsgpack.pack(out)
