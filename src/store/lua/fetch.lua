-- Prefetch for tenant×queues: per tenant×queue, promote due delayed jobs to
-- their ready stream, then read up to `count` new entries, highest priority
-- first, into this broker's pending list (see read_ready.lua). One call
-- carries many tenants (see packed.ts); each part touches only its own
-- tenant's keys. A direct dispatch also leases the first jobs read, under the
-- tokens given, as lease.lua would: one round trip less for a job that arrives
-- while a worker waits.
-- The call keeps a record of what it read under its record key, so that a
-- second run of it answers the same jobs (see includes/fetch_record.lua), and
-- deletes the records of calls the broker has had its answers to.
-- KEYS[1] any key of the first tenant (routes the call)
-- ARGV[1] the values below (ARGS), packed (see cmsgpack.ts)
-- ARGS[1] consumer  ARGS[2] now (ms)  ARGS[3] most delayed jobs to promote per tenant×queue
-- ARGS[4] this call's record key  ARGS[5] how long the record is kept (ms)
-- ARGS[6] a count d, then d record keys of answered calls, to delete
-- then per tenant×queue (a group of each_group): tenant×queue key base, job key
--   base, count, the number of jobs to lease at once L (0 = none), then L lease tokens
-- Returns one cmsgpack-packed list (see cmsgpack.ts): per tenant×queue, in
--   argument order, the values read_ready appends (see read_ready.lua), or -2
--   and an error message when its read failed (see read_ready_part)
-- @include common
-- @include read_ready
-- @include fetch_record
local ARGS = packed_args()
local consumer, now, promoteLimit = ARGS[1], tonumber(ARGS[2]), tonumber(ARGS[3])
local recordKey, recordMs, answered = ARGS[4], ARGS[5], tonumber(ARGS[6])
for k = 7, 6 + answered do redis.call('DEL', ARGS[k]) end
local first = 7 + answered
local out = {}

-- The answer of the run before, from its record: the jobs still where it left
-- them, its leases first. A lease after one that is gone is taken back (the
-- broker maps leases to its tokens by position), so that job is answered read.
local function answer_again(part)
  local head = #out
  out[head + 1] = earliest_due(part.base .. 'delayed') or -1
  out[head + 2] = 0
  local leased, read, inOrder = {}, {}, true
  for _, job in ipairs(part.jobs) do
    if job.token ~= '' then
      if job.still == 'leased' and inOrder then
        leased[#leased + 1] = job
      else
        inOrder = false
        if job.still == 'leased' then
          unlease(job)
          read[#read + 1] = job
        end
      end
    elseif job.still == 'read' then
      read[#read + 1] = job
    end
  end
  out[head + 3] = #leased + #read
  out[head + 4] = #leased
  for _, jobs in ipairs({leased, read}) do
    for _, job in ipairs(jobs) do
      local fields = redis.call('HMGET', job.key, 'maxAttempts', 'timeoutMs', 'payload', 'headers', 'createdAt', 'runAt')
      out[#out + 1] = job.id
      out[#out + 1] = job.entry
      out[#out + 1] = job.level
      out[#out + 1] = job.attempts
      for i = 1, 6 do out[#out + 1] = fields[i] or '' end
    end
  end
end

local recorded = redis.call('GET', recordKey)
if recorded == RECORD_ABANDONED then
  -- given up by the broker (abandon_fetch.lua), which has stopped waiting for this answer
  each_group(ARGS, first, 3, function(_, i, n)
    out[#out + 1], out[#out + 2], out[#out + 3], out[#out + 4] = -1, 0, 0, 0
    return i + n
  end)
elseif recorded then
  for _, part in ipairs(read_record(cmsgpack.unpack(recorded), consumer)) do answer_again(part) end
else
  local record = {}
  each_group(ARGS, first, 3, function(part, i, n)
    local head, tokens = #out, {unpack(ARGS, i, i + n - 1)}
    read_ready_part(out, part[1], part[2], tonumber(part[3]), tokens, now, consumer, promoteLimit)
    record_part(record, out, head, part[1], part[2], tokens)
    return i + n
  end)
  redis.call('SET', recordKey, cmsgpack.pack(record), 'PX', recordMs)
end
return cmsgpack.pack(out)
