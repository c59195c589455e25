-- Prefetch for tenant×queues: per tenant×queue, promote due delayed jobs to
-- their ready stream, then read up to `count` new entries, highest priority
-- first, into this broker's pending list (see read_ready.lua). One call
-- carries many tenants (see packed.ts); each part touches only its own
-- tenant's keys. A direct dispatch also leases the first jobs read, under the
-- tokens given, as lease.lua would: one round trip less for a job that arrives
-- while a worker waits.
-- The call keeps a record of what it read under its record key, so that a
-- second run of it answers the same jobs (see includes/call_record.lua), and
-- deletes the records of calls the broker has had its answers to.
-- KEYS[1] any key of the first tenant (routes the call)
-- ARGV[1] the values below (ARGS), packed (see cmsgpack.ts)
-- ARGS[1] consumer  ARGS[2] this call's record key  ARGS[3] how long it is kept (ms)
-- ARGS[4] a count d, then d record keys of answered calls, to delete
-- then: now (ms), most delayed jobs to promote per tenant×queue,
-- then per tenant×queue (a group of each_group): tenant×queue key base, job key
--   base, count, the priority the jobs read must be above (-1 = any), the
--   number of jobs to lease at once L (0 = none), then L lease tokens
-- Returns one cmsgpack-packed list (see cmsgpack.ts): per tenant×queue, in
--   argument order, the values read_ready appends (see read_ready.lua), or -2
--   and an error message when its read failed (see read_ready_part)
-- @include common
-- @include read_ready
-- @include call_record
local ARGS = packed_args()
local consumer, recordKey, recordMs, at = recorded_call(ARGS)
local now, promoteLimit = tonumber(ARGS[at]), tonumber(ARGS[at + 1])
local first = at + 2
local out = {}

local recorded = redis.call('GET', recordKey)
if recorded == RECORD_ABANDONED then
  -- given up by the broker (abandon_call.lua), which no longer waits for this answer
  each_group(ARGS, first, 4, function(_, i, n)
    out[#out + 1], out[#out + 2], out[#out + 3], out[#out + 4] = -1, 0, 0, 0
    return i + n
  end)
elseif recorded then
  for _, part in ipairs(read_record(cmsgpack.unpack(recorded).p, consumer)) do answer_again(out, part) end
else
  local record = {}
  each_group(ARGS, first, 4, function(part, i, n)
    local head, tokens = #out, {unpack(ARGS, i, i + n - 1)}
    read_ready_part(out, part[1], part[2], tonumber(part[3]), tonumber(part[4]), tokens, now, consumer,
      promoteLimit)
    record_part(record, out, head, part[1], part[2])
    return i + n
  end)
  redis.call('SET', recordKey, cmsgpack.pack({p = record}), 'PX', recordMs)
end
forget_answered(ARGS)
return cmsgpack.pack(out)
