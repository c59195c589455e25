-- The holdings of an in-flight cap (see hold_slots.lua), under the cap's key K:
-- hash K (broker → slots held), hash K..':wants' (broker → slots wanted beyond
-- those), hash K..':leased' (broker → how many of the slots it holds back its
-- leases in flight), and when they lapse, Redis time in ms: sorted set
-- K..':until' (broker → when its wants and spare slots lapse, those beyond
-- its leased) and K..':leases-until' (broker → when its leased slots lapse,
-- unless the leases were reclaimed or moved before: see drop_leased_slot).

-- Now on Redis's clock (ms), which every broker's holdings lapse by.
local function holdings_now()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

-- Drops what lapsed by `now` of the cap under `key`: a broker's leased slots
-- once their lapse passed, its wants and spare slots (the holding shrinks to
-- the leased ones) once its holding's did.
local function lapse_holdings(key, now)
  local spareUntil, leasesUntil = key .. ':until', key .. ':leases-until'
  for _, gone in ipairs(redis.call('ZRANGEBYSCORE', leasesUntil, '-inf', now)) do
    redis.call('HDEL', key .. ':leased', gone)
    redis.call('ZREM', leasesUntil, gone)
    if not redis.call('ZSCORE', spareUntil, gone) then redis.call('HDEL', key, gone) end
  end
  for _, idle in ipairs(redis.call('ZRANGEBYSCORE', spareUntil, '-inf', now)) do
    local leased = redis.call('HGET', key .. ':leased', idle)
    if leased then redis.call('HSET', key, idle, leased) else redis.call('HDEL', key, idle) end
    redis.call('HDEL', key .. ':wants', idle)
    redis.call('ZREM', spareUntil, idle)
  end
end

-- The keys of the cap under `key` live until the last lapse of any broker's
-- entries, and at least until `last`.
local function expire_holdings(key, last)
  local spareUntil, leasesUntil = key .. ':until', key .. ':leases-until'
  for _, lapses in ipairs({spareUntil, leasesUntil}) do
    local latest = redis.call('ZRANGE', lapses, -1, -1, 'WITHSCORES')
    if latest[2] then last = math.max(last, tonumber(latest[2])) end
  end
  for _, part in ipairs({key, key .. ':wants', key .. ':leased', spareUntil, leasesUntil}) do
    redis.call('PEXPIREAT', part, last)
  end
end

-- `me`'s entries of the cap under `key` lapse `ttl` ms after `now`, its
-- leased slots (when it has any) `leasesTtl` ms after. The keys live until
-- the last lapse of any broker's.
local function renew_holding(key, me, now, ttl, leasesTtl)
  local spareUntil, leasesUntil = key .. ':until', key .. ':leases-until'
  redis.call('ZADD', spareUntil, now + ttl, me)
  if redis.call('HEXISTS', key .. ':leased', me) == 1 then
    redis.call('ZADD', leasesUntil, now + leasesTtl, me)
  else
    redis.call('ZREM', leasesUntil, me)
  end
  expire_holdings(key, now + ttl)
end

-- How many leases of the `count` that `me` would have in flight under the cap
-- under `key` (of `cap` slots) the holdings leave no slot for: the slots
-- beyond what the other brokers hold. Checked as a lease is written
-- (lease.lua), because the broker's view of its own holding may be late: a
-- lease written after Redis stalled past the lapse of the broker's spare
-- slots, or after a worker moved one of its leases (and the slot) to another
-- broker, would otherwise run beyond the cap.
local function leases_beyond_cap(key, cap, count, me, now)
  lapse_holdings(key, now)
  local others = 0
  local holdings = redis.call('HGETALL', key)
  for j = 1, #holdings, 2 do
    if holdings[j] ~= me then others = others + tonumber(holdings[j + 1]) end
  end
  return math.max(0, count - math.max(0, cap - others))
end

-- `me` has `count` leases in flight under the cap under `key`: recorded at
-- once with the leases (lease.lua) when Redis counted fewer of them, so that
-- their slots outlive a lapse of its spare ones as leased slots do (see
-- hold_slots.lua), whatever happens to the broker's next request.
local function hold_leases(key, me, count, now, leasesTtl)
  if count <= (tonumber(redis.call('HGET', key .. ':leased', me)) or 0) then return end
  redis.call('HSET', key .. ':leased', me, count)
  if count > (tonumber(redis.call('HGET', key, me)) or 0) then redis.call('HSET', key, me, count) end
  redis.call('ZADD', key .. ':leases-until', now + leasesTtl, me)
  expire_holdings(key, now + leasesTtl)
end

-- `me` no longer holds or wants slots of the cap under `key`.
local function forget_holding(key, me)
  for _, part in ipairs({key, key .. ':wants', key .. ':leased'}) do redis.call('HDEL', part, me) end
  redis.call('ZREM', key .. ':until', me)
  redis.call('ZREM', key .. ':leases-until', me)
end

-- Takes one slot off `broker`'s count in the hash `part`, which it leaves at
-- its last; none when it has none.
local function take_slot(part, broker)
  if (tonumber(redis.call('HGET', part, broker)) or 0) > 1 then
    redis.call('HINCRBY', part, broker, -1)
  else
    redis.call('HDEL', part, broker)
  end
end

-- A lease of `holder`'s was reclaimed (reclaim.lua): its slot of the cap under
-- `key` leaves the holder's leased slots. Once only: after the time lapse of
-- its leased slots (the backstop when no broker sweeps) none is left to take.
-- The slot is free for any broker only when the holder's holding lapsed (it
-- is taken for dead): a holder that still renews it, hung for a lease TTL or
-- cut off from its entries, may still count the lease, its worker still run
-- the job; the slot stays its spare until its next request says what it
-- holds. One slot unused for a while, never one too many.
local function drop_leased_slot(key, holder, now)
  lapse_holdings(key, now)
  if not redis.call('HGET', key .. ':leased', holder) then return end
  take_slot(key .. ':leased', holder)
  if not redis.call('ZSCORE', key .. ':until', holder) then take_slot(key, holder) end
end
