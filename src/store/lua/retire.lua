-- The depth of a tenant×queue a broker is taking out of the queue's index of
-- tenants with work (TenantIndexes.retire), as stats.lua reads it; and when
-- nothing of it waits, is held by a broker or is delayed, its ready streams
-- (with their consumer group) and its set of levels go. Kept, they were about
-- 0.7 KB of Redis per tenant×queue ever used, for good: a SaaS whose tenants
-- come and go grew by every tenant it ever had. Its dead letters stay.
-- Safe for every other script: with no entry in any of its streams, no broker
-- holds one, and the streams, the group and the levels go together, as
-- append_ready (common.lua) makes them together for the next job. A renewal of
-- an entry whose job ended meanwhile (a broker that hung past its lease TTL)
-- then finds no stream: Recovery.renew tells that from a Redis that lost its keys.
-- KEYS[1] the tenant×queue's set of levels (routes the call)
-- ARGV[1] the tenant×queue's key base  ARGV[2] death time (ms) up to which a
--   dead letter is past its retention
-- Returns waiting, leased, delayed, dead, and 1 when the keys went (else 0)
-- @include common
-- @include depth
local base = ARGV[1]
local waiting, leased, delayed, dead = queue_depth(base, ARGV[2])
local deleted = 0
if waiting + leased + delayed == 0 then
  for _, level in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    redis.call('DEL', base .. 'ready:' .. level)
  end
  redis.call('DEL', KEYS[1], base .. 'requeued')
  deleted = 1
end
return {waiting, leased, delayed, dead, deleted}
