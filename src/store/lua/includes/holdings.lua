-- The holdings of an in-flight cap (see hold_slots.lua), under the cap's key K:
-- hash K (broker → slots held), hash K..':wants' (broker → slots wanted beyond
-- those), sorted set K..':until' (broker → when its entries lapse, Redis time
-- in ms).

-- Now on Redis's clock (ms), which every broker's holdings lapse by.
local function holdings_now()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

-- `me`'s entries of the cap under `key` lapse `ttl` ms after `now`.
local function renew_holding(key, me, now, ttl)
  redis.call('ZADD', key .. ':until', now + ttl, me)
  for _, part in ipairs({key, key .. ':wants', key .. ':until'}) do redis.call('PEXPIRE', part, ttl) end
end
