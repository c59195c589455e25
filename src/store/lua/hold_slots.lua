-- Records how many slots of an in-flight cap (`maxInFlight`) each broker holds,
-- so that the holdings of all brokers on this Redis never add up to more than
-- the cap (scheduler/shared-slots.ts). A broker asks for the slots it wants
-- and gets what the others leave, never less than its leases in flight
-- (those cannot be taken back). What it wanted and did not get is noted, so
-- the others learn that someone waits and give slots back as they free them.
-- A holding not renewed within the TTL lapses: its broker is taken for dead.
-- The keys of a cap: see holdings.lua.
-- KEYS[1] the first cap's key (routes the call)
-- ARGV[1] the values below (ARGS), packed (see cmsgpack.ts)
-- ARGS[1] this broker's name  ARGS[2] TTL of a holding (ms)
-- then per cap 4 values: key, cap (≥ 1), slots wanted, slots kept at least
-- Returns one cmsgpack-packed list (see cmsgpack.ts), per cap in argument
-- order: the slots this broker now holds, and 1 when other brokers wait for
-- slots (else 0)
-- @include common
-- @include holdings
local ARGS = packed_args()
local me, ttl = ARGS[1], tonumber(ARGS[2])
local now = holdings_now()
local out = {}
for i = 3, #ARGS, 4 do
  local held, wants, lapse = ARGS[i], ARGS[i] .. ':wants', ARGS[i] .. ':until'
  local cap, wanted, keep = tonumber(ARGS[i + 1]), tonumber(ARGS[i + 2]), tonumber(ARGS[i + 3])
  for _, gone in ipairs(redis.call('ZRANGEBYSCORE', lapse, '-inf', now)) do
    redis.call('HDEL', held, gone)
    redis.call('HDEL', wants, gone)
    redis.call('ZREM', lapse, gone)
  end
  local others, othersWant = 0, 0
  local holdings = redis.call('HGETALL', held)
  for j = 1, #holdings, 2 do
    if holdings[j] ~= me then others = others + tonumber(holdings[j + 1]) end
  end
  local waiting = redis.call('HGETALL', wants)
  for j = 1, #waiting, 2 do
    if waiting[j] ~= me then othersWant = othersWant + tonumber(waiting[j + 1]) end
  end
  local hold = math.max(keep, math.min(wanted, cap - others))
  if hold > 0 then redis.call('HSET', held, me, hold) else redis.call('HDEL', held, me) end
  if wanted > hold then redis.call('HSET', wants, me, wanted - hold) else redis.call('HDEL', wants, me) end
  if hold > 0 or wanted > hold then
    renew_holding(held, me, now, ttl)
  else
    redis.call('ZREM', lapse, me)
  end
  out[#out + 1] = hold
  out[#out + 1] = othersWant > 0 and 1 or 0
end
return cmsgpack.pack(out)
