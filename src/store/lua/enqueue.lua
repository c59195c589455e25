-- Stores a batch of jobs of one tenant×queue: per job an idempotency check,
-- the queue limit, the job hash, then its ready stream (runnable now) or the
-- delayed set. One call for many jobs keeps the per-job cost low.
-- KEYS[1] the tenant×queue's delayed set (routes the call to the tenant's slot)
-- ARGV[1] tenant×queue key base   ARGV[2] job key base   ARGV[3] idempotency key base
-- ARGV[4] now (ms)   ARGV[5] idempotency TTL (ms)   ARGV[6] max queued (0 = no limit)
-- ARGV[7] queue name
-- then per job, 11 values: id, idempotency key or '', run at, priority, payload,
--   max attempts, backoff initial ms, backoff max ms, timeout ms, headers JSON, created at
-- Returns per job two values: 0, jobId (stored) | 1, firstJobId (duplicate) | 2, queued (over the limit)
-- @include common
local base, jobBase, idemBase = ARGV[1], ARGV[2], ARGV[3]
local now, idemTtl, maxQueued, queue = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]), ARGV[7]
local FIELDS = 11

local queued = -1
if maxQueued > 0 then
  queued = redis.call('ZCARD', KEYS[1])
  for _, level in ipairs(redis.call('ZRANGE', base .. 'levels', 0, -1)) do
    queued = queued + redis.call('XLEN', base .. 'ready:' .. level)
  end
end

local out = {}
local streams = {} -- ready stream of each priority level, ensured once per call
for i = 8, #ARGV, FIELDS do
  local jobId, idem, runAt, priority = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  local first = idem ~= '' and redis.call('GET', idemBase .. idem)
  if first then
    out[#out + 1] = 1
    out[#out + 1] = first
  elseif maxQueued > 0 and queued >= maxQueued then
    out[#out + 1] = 2
    out[#out + 1] = queued
  else
    if idem ~= '' then redis.call('SET', idemBase .. idem, jobId, 'PX', idemTtl) end
    local jobKey = jobBase .. jobId
    local state, entry = 'delayed', ''
    if runAt > now then
      redis.call('ZADD', KEYS[1], runAt, jobId)
    else
      state = 'waiting'
      local stream = streams[priority]
      if not stream then
        stream = ensure_level(base, priority)
        streams[priority] = stream
      end
      entry = redis.call('XADD', stream, '*', 'j', jobId)
    end
    redis.call('HSET', jobKey, 'queue', queue, 'payload', ARGV[i + 4], 'priority', priority,
      'maxAttempts', ARGV[i + 5], 'backoffInitialMs', ARGV[i + 6], 'backoffMaxMs', ARGV[i + 7],
      'timeoutMs', ARGV[i + 8], 'headers', ARGV[i + 9], 'createdAt', ARGV[i + 10], 'runAt', runAt,
      'idem', idem, 'state', state, 'entry', entry)
    if queued >= 0 then queued = queued + 1 end
    out[#out + 1] = 0
    out[#out + 1] = jobId
  end
end
return out
