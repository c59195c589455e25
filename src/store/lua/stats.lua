-- Depths of tenant×queues. Packed (see packed.ts): one call carries many
-- tenant×queues, so the metrics' depth gauges read 10,000 of them in a few
-- dozen calls rather than 10,000. Its one write: dead letters past their
-- retention leave the dead set (see depth.lua).
-- KEYS[1] any key of the first tenant (routes the call)
-- ARGV[1] the values below (ARGS), packed (see cmsgpack.ts)
-- ARGS[1] death time (ms) up to which a dead letter is past its retention
-- then per tenant×queue (a group of each_group with no header): 1, then its key base
-- Returns one cmsgpack-packed list (see cmsgpack.ts): per tenant×queue in
-- argument order, waiting, leased (read by a broker: leased or prefetched),
-- delayed, dead, the time (ms) the oldest waiting job became runnable or -1
-- @include common
-- @include depth
local ARGS = packed_args()
local expiredBy = ARGS[1]
local out = {}
each_group(ARGS, 2, 0, function(_, i, n)
  for k = i, i + n - 1 do
    local waiting, leased, delayed, dead, oldest = queue_depth(ARGS[k], expiredBy)
    out[#out + 1] = waiting
    out[#out + 1] = leased
    out[#out + 1] = delayed
    out[#out + 1] = dead
    out[#out + 1] = oldest
  end
  return i + n
end)
return cmsgpack.pack(out)
