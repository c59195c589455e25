-- Stores jobs: per job an idempotency check, the queue limit, the job hash,
-- then its ready stream (runnable now) or the delayed set. Packed (see
-- packed.ts): one call carries the jobs of many tenant×queues, which keeps the
-- per-job cost low when a batch spreads over many tenants. A group may end with
-- a claim: the fetch its new jobs would need next (read_ready.lua), done here
-- so the broker neither sends a fetch nor reads back the jobs it just sent.
-- The call keeps a record of its outcomes and of what its claims read (see
-- includes/call_record.lua): a second run of it (ioredis sends a call again
-- when the connection dropped before its reply) answers as the first did, and
-- neither stores the jobs again (a second entry each, a leased job reset to
-- waiting, an idempotency key answered as its own duplicate) nor claims others.
-- KEYS[1] any key of the first tenant (routes the call)
-- ARGV[1] the values below (ARGS), packed (see cmsgpack.ts)
-- ARGS[1] consumer (claims read into its pending list)  ARGS[2] this call's
--   record key  ARGS[3] how long it is kept (ms)  ARGS[4] a count d, then d
--   record keys of answered calls, to delete
-- then: now (ms), idempotency TTL (ms), most delayed jobs a claim promotes,
-- then per tenant×queue, 5 values: tenant×queue key base, job key base,
--   idempotency key base, max queued (0 = no limit), queue name;
--   its job count, then per job 11 values: id, idempotency key or '', run at,
--   priority, payload, max attempts, backoff initial ms, backoff max ms,
--   timeout ms, headers JSON, created at;
--   then its claim: count (0 = none), the priority the jobs read must be
--   above (-1 = any), the number of jobs to lease at once L, then L lease tokens
-- Returns one cmsgpack-packed list (see cmsgpack.ts): per job in argument
-- order, two values:
--   0, jobId (stored) | 1, firstJobId (duplicate) | 2, jobs waiting (over the limit)
-- then, per group with a claim in argument order, what read_ready appends, or
-- -2 and an error message when the claim failed (its jobs are stored all the same).
-- @include common
-- @include read_ready
-- @include call_record
local ARGS = packed_args()
local consumer, recordKey, recordMs, at = recorded_call(ARGS)
local now, idemTtl, promoteLimit = tonumber(ARGS[at]), ARGS[at + 1], tonumber(ARGS[at + 2])
local first = at + 3
local out, claims = {}, {}

local recorded = redis.call('GET', recordKey)
-- given up by the broker (abandon_call.lua) before it ran: it stores nothing
if recorded == RECORD_ABANDONED then return cmsgpack.pack(out) end
if recorded then
  -- The outcomes of the first run (a stored job's id is its own, in ARGS),
  -- then its claims answered again.
  local record = cmsgpack.unpack(recorded)
  local job, k = 0, 1
  each_group(ARGS, first, 5, function(_, i, n)
    for _ = 1, n do
      job = job + 1
      if record.o[k] == job then
        out[#out + 1], out[#out + 2] = record.o[k + 1], record.o[k + 2]
        k = k + 3
      else
        out[#out + 1], out[#out + 2] = 0, ARGS[i]
      end
      i = i + 11
    end
    return i + 3 + tonumber(ARGS[i + 2])
  end)
  for _, part in ipairs(read_record(record.p, consumer)) do answer_again(out, part) end
  forget_answered(ARGS)
  return cmsgpack.pack(out)
end

-- the outcomes other than stored, each as its job's number in the call and
-- the two values of `out`; the claims' reads
local outcomes, reads, numbered = {}, {}, 0
each_group(ARGS, first, 5, function(group, i, n)
  local base, jobBase, idemBase, maxQueued, queue =
    group[1], group[2], group[3], tonumber(group[4]), group[5]
  local delayed = base .. 'delayed'
  -- The limit counts jobs waiting (ready, delayed, retrying), not those out
  -- with workers: a ready stream keeps a leased job's entry until it ends, and
  -- so subtracts the entries brokers have read. That also leaves out the few
  -- a broker read ahead into its buffer, not leased yet: a tenant may have up
  -- to that many waiting beyond its limit.
  local queued = -1
  if maxQueued > 0 then
    queued = redis.call('ZCARD', delayed)
    for _, level in ipairs(redis.call('ZRANGE', base .. 'levels', 0, -1)) do
      local stream = base .. 'ready:' .. level
      queued = queued + redis.call('XLEN', stream) - group_state(stream)
    end
  end
  local own = {} -- jobs stored here, as a claim's read_ready wants them
  for _ = 1, n do
    local jobId, idem, runAt, priority = ARGS[i], ARGS[i + 1], tonumber(ARGS[i + 2]), ARGS[i + 3]
    local earlier = idem ~= '' and redis.call('GET', idemBase .. idem)
    if earlier then
      out[#out + 1] = 1
      out[#out + 1] = earlier
    elseif maxQueued > 0 and queued >= maxQueued then
      out[#out + 1] = 2
      out[#out + 1] = queued
    else
      if idem ~= '' then redis.call('SET', idemBase .. idem, jobId, 'PX', idemTtl) end
      local state, entry = 'delayed', ''
      if runAt > now then
        redis.call('ZADD', delayed, runAt, jobId)
      else
        state = 'waiting'
        entry = append_ready(base, priority, jobId)
        own[jobId] = {ARGS[i + 5], ARGS[i + 8], ARGS[i + 10], ARGS[i + 2]}
      end
      redis.call('HSET', jobBase .. jobId, 'queue', queue, 'payload', ARGS[i + 4], 'priority', priority,
        'maxAttempts', ARGS[i + 5], 'backoffInitialMs', ARGS[i + 6], 'backoffMaxMs', ARGS[i + 7],
        'timeoutMs', ARGS[i + 8], 'headers', ARGS[i + 9], 'createdAt', ARGS[i + 10], 'runAt', runAt,
        'idem', idem, 'state', state, 'entry', entry)
      if queued >= 0 then queued = queued + 1 end
      out[#out + 1] = 0
      out[#out + 1] = jobId
    end
    numbered = numbered + 1
    if out[#out - 1] ~= 0 then
      outcomes[#outcomes + 1] = numbered
      outcomes[#outcomes + 1] = out[#out - 1]
      outcomes[#outcomes + 1] = out[#out]
    end
    i = i + 11
  end
  local claim, above, leases = tonumber(ARGS[i]), tonumber(ARGS[i + 1]), tonumber(ARGS[i + 2])
  if claim > 0 then
    -- the jobs are stored whatever happens to the claim
    local head, tokens = #claims, {unpack(ARGS, i + 3, i + 2 + leases)}
    read_ready_part(claims, base, jobBase, claim, above, tokens, now, consumer, promoteLimit, own)
    record_part(reads, claims, head, base, jobBase)
  end
  return i + 3 + leases
end)
redis.call('SET', recordKey, cmsgpack.pack({o = outcomes, p = reads}), 'PX', recordMs)
forget_answered(ARGS)
for _, value in ipairs(claims) do out[#out + 1] = value end
return cmsgpack.pack(out)
