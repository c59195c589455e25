-- Takes tokens from rate-limit buckets that every broker shares, so that
-- replicas together hold a tenant (or a tenant×queue override) to its rate.
-- A broker takes a few tokens at a time and spends them through its own
-- local bucket (scheduler/shared-tokens.ts).
-- A bucket is a hash {tokens, at}: its level at time `at`. Time is Redis's
-- own clock (TIME, in ms with a fraction), so brokers' clocks need not agree.
-- A missing bucket is a full one: the key expires when it would be full again.
-- KEYS[1] the first bucket (routes the call)
-- ARGV[1] the values below (ARGS), packed (see cmsgpack.ts)
-- per bucket 4 values: key, rate (tokens/s, > 0), size (≥ 1), tokens wanted (≥ 1)
-- Returns one cmsgpack-packed list (see cmsgpack.ts), per bucket in argument
-- order: tokens granted (0..wanted), and the ms until it holds a whole token
-- again (0 when it does)
-- @include common
local ARGS = packed_args()
-- A bucket takes at most this long to refill, as far as its key and the wait
-- are concerned (a year): a rate so low that the refill time ran past 1e16 ms
-- made PEXPIRE refuse a number Lua writes with an exponent, and failed the
-- call for every bucket in it.
local LONGEST_MS = 366 * 24 * 3600 * 1000
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local out = {}
for i = 1, #ARGS, 4 do
  local key, rate, size, wanted = ARGS[i], tonumber(ARGS[i + 1]), tonumber(ARGS[i + 2]), tonumber(ARGS[i + 3])
  local bucket = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = size
  if bucket[1] then
    tokens = math.min(size, tonumber(bucket[1]) + math.max(0, now - tonumber(bucket[2])) * rate / 1000)
  end
  local granted = math.max(0, math.min(wanted, math.floor(tokens)))
  tokens = tokens - granted
  redis.call('HSET', key, 'tokens', tokens, 'at', now)
  redis.call('PEXPIRE', key, math.min(LONGEST_MS, math.ceil((size - tokens) * 1000 / rate) + 1))
  out[#out + 1] = granted
  out[#out + 1] = tokens >= 1 and 0 or math.min(LONGEST_MS, math.ceil((1 - tokens) * 1000 / rate))
end
return cmsgpack.pack(out)
