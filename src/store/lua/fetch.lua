-- Prefetch for tenant×queues: per tenant×queue, promote due delayed jobs to
-- their ready stream, then read up to `count` new entries, highest priority
-- first, into this broker's pending list (see read_ready.lua). One call
-- carries many tenants (see packed.ts); each part touches only its own
-- tenant's keys. A direct dispatch also leases the first jobs read, under the
-- tokens given, as lease.lua would: one round trip less for a job that arrives
-- while a worker waits.
-- KEYS[1] any key of the first tenant (routes the call)
-- ARGV[1] the values below (ARGS), packed (see cmsgpack.ts)
-- ARGS[1] consumer  ARGS[2] now (ms)  ARGS[3] most delayed jobs to promote per tenant×queue
-- then per tenant×queue (a group of each_group): tenant×queue key base, job key
--   base, count, the number of jobs to lease at once L (0 = none), then L lease tokens
-- Returns one cmsgpack-packed list (see cmsgpack.ts): per tenant×queue, in
--   argument order, the values read_ready appends (see read_ready.lua), or -2
--   and an error message when its read failed (see read_ready_part)
-- @include common
-- @include read_ready
local ARGS = packed_args()
local consumer, now, promoteLimit = ARGS[1], tonumber(ARGS[2]), tonumber(ARGS[3])
local out = {}
each_group(ARGS, 4, 3, function(part, i, n)
  read_ready_part(out, part[1], part[2], tonumber(part[3]), {unpack(ARGS, i, i + n - 1)}, now, consumer, promoteLimit)
  return i + n
end)
return cmsgpack.pack(out)
