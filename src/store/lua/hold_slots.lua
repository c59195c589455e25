-- Records how many slots of an in-flight cap (`maxInFlight`) each broker holds,
-- so that the leases of all brokers on this Redis never add up to more than
-- the cap (scheduler/shared-slots.ts). A broker asks for the slots it wants
-- and may use what the others leave. It holds at least the slots of its
-- leases in flight (those cannot be taken back), so after the cap was lowered
-- the holdings may add up to more than it: a broker then holds its leases'
-- slots but may use fewer, or none, and gets no new lease until the leases
-- of all of them fit under the cap again. What it wanted and may not use is
-- noted, so the others learn that someone waits and give slots back as they
-- free them.
-- A holding not renewed within the TTL of a holding lapses, its broker taken
-- for dead, but only down to the slots of its leases: those run on at its
-- workers, which may re-attach them to another broker (adopt.lua moves their
-- slots) until the recovery sweep reclaims them (reclaim.lua frees their
-- slots). So these lapse after the longer TTL of leased slots, only a
-- backstop for leases no sweep reclaims (see holdingTtls); a dead broker's
-- spare slots go to the others as soon as its holding lapses.
-- The keys of a cap: see holdings.lua.
-- KEYS[1] the first cap's key (routes the call)
-- ARGV[1] the values below (ARGS), packed (see cmsgpack.ts)
-- ARGS[1] this broker's name  ARGS[2] TTL of a holding (ms)
-- ARGS[3] TTL of its leased slots (ms, at least the TTL of a holding)
-- then per cap 4 values: key, cap (≥ 1), slots wanted, slots of its leases
-- in flight (kept at least)
-- Returns one cmsgpack-packed list (see cmsgpack.ts), per cap in argument
-- order: the slots this broker may use (0 up to those wanted; fewer than the
-- slots of its leases while the holdings exceed the cap), and 1 when other
-- brokers wait for slots (else 0)
-- @include common
-- @include holdings
local ARGS = packed_args()
local me, ttl, leasesTtl = ARGS[1], tonumber(ARGS[2]), tonumber(ARGS[3])
local now = holdings_now()
local out = {}
for i = 4, #ARGS, 4 do
  local held, wants, leased = ARGS[i], ARGS[i] .. ':wants', ARGS[i] .. ':leased'
  local cap, wanted, keep = tonumber(ARGS[i + 1]), tonumber(ARGS[i + 2]), tonumber(ARGS[i + 3])
  lapse_holdings(held, now)
  local others, othersWant = 0, 0
  local holdings = redis.call('HGETALL', held)
  for j = 1, #holdings, 2 do
    if holdings[j] ~= me then others = others + tonumber(holdings[j + 1]) end
  end
  local waiting = redis.call('HGETALL', wants)
  for j = 1, #waiting, 2 do
    if waiting[j] ~= me then othersWant = othersWant + tonumber(waiting[j + 1]) end
  end
  local usable = math.max(0, math.min(wanted, cap - others))
  local hold = math.max(keep, usable)
  if hold > 0 or wanted > usable then
    if hold > 0 then redis.call('HSET', held, me, hold) else redis.call('HDEL', held, me) end
    if wanted > usable then redis.call('HSET', wants, me, wanted - usable) else redis.call('HDEL', wants, me) end
    if keep > 0 then redis.call('HSET', leased, me, keep) else redis.call('HDEL', leased, me) end
    renew_holding(held, me, now, ttl, leasesTtl)
  else
    forget_holding(held, me)
  end
  out[#out + 1] = usable
  out[#out + 1] = othersWant > 0 and 1 or 0
end
return cmsgpack.pack(out)
