-- Moves a lease to this broker when a worker re-attaches it here, fenced by
-- its token, so the broker that held it before cannot expire it any more.
-- A lease another broker held also moves its slot of each in-flight cap it
-- counts against, from that broker's holding to this one's (see
-- hold_slots.lua), in the same step. Why add it here: the other broker learns
-- that the lease moved only when Redis refuses its expiry or ack of it as
-- stale, and then no longer counts it; had the slot not moved with the lease,
-- a dispatch anywhere could take it while the job still ran here, and the
-- tenant ran more jobs at once than its cap. Why take it there: that broker
-- may be dead (or restarted under a new name), its leased slots then lapsing
-- only two lease TTLs later (no sweep reclaims the lease, held here, to free
-- it); counted there too, the lease held two slots for that long. A live one
-- that still counts it holds it again at its next request, until it learns
-- of the move: one slot unused, never one too many.
-- Its stream entry moves to this broker's pending list as a renewal does
-- (XCLAIM … JUSTID). Why: the entry idled since the broker it left last
-- renewed it, a dead one maybe most of a lease TTL ago; until this broker's
-- next renewal (up to a third of the TTL later) any broker's sweep took it as
-- expired, failed the attempt and ran the job again while it ran here.
-- A lease another broker held is announced on ARGV[6] to that broker, which
-- lets go of it. Why: it learned of the move only when Redis refused its
-- expiry or ack of it as stale, and the session it was on, while open (its
-- worker still heartbeating, or not yet found silent), never expired it: that
-- broker counted the lease in the tenant's max_in_flight (held again in Redis
-- at its next request) and in that session's capacity for as long as the
-- session lived. Announced here, in the same step, so no later move of the
-- lease (back to that broker) can come before it.
-- KEYS[1] job hash
-- ARGV[1] lease token  ARGV[2] this broker's consumer name  ARGV[3] tenant key base
-- ARGV[4] TTL of a holding (ms)  ARGV[5] TTL of leased slots (ms)
-- ARGV[6] the channel of moved leases  ARGV[7] job id
-- ARGV[8..] the keys of the in-flight caps the job counts against (holdings.lua)
-- Returns 1 adopted | 0 the lease is not current
-- @include common
-- @include holdings
local job = redis.call('HMGET', KEYS[1], 'state', 'token', 'holder', 'entry', 'queue', 'priority')
if job[1] ~= 'leased' or job[2] ~= ARGV[1] then return 0 end
local from, me = job[3], ARGV[2]
if from ~= me then
  redis.call('HSET', KEYS[1], 'holder', me)
  if from then
    redis.call('PUBLISH', ARGV[6], cjson.encode({holder = from, job = ARGV[7], token = ARGV[1]}))
  end
  if job[4] and job[4] ~= '' then
    local stream = ARGV[3] .. job[5] .. ':ready:' .. job[6]
    redis.call('XCLAIM', stream, GROUP, me, 0, job[4], 'JUSTID')
  end
  local now = holdings_now()
  for i = 8, #ARGV do
    local key = ARGV[i]
    if from then
      for _, part in ipairs({key, key .. ':leased'}) do take_slot(part, from) end
    end
    redis.call('HINCRBY', key, me, 1)
    redis.call('HINCRBY', key .. ':leased', me, 1)
    renew_holding(key, me, now, tonumber(ARGV[4]), tonumber(ARGV[5]))
  end
end
return 1
