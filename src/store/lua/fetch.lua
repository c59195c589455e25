-- Prefetch for one tenant×queue: promote due delayed jobs to their ready
-- stream, then read up to `count` new entries, highest priority first, into
-- this broker's pending list. Entries whose job is no longer waiting on them
-- (cancelled, expired, superseded) are acked and deleted on the way.
-- KEYS[1] levels sorted set    KEYS[2] delayed sorted set
-- ARGV[1] tenant×queue key base  ARGV[2] job key base  ARGV[3] consumer
-- ARGV[4] count  ARGV[5] now (ms)  ARGV[6] most delayed jobs to promote
-- Returns {nextDueMs or -1, idle (1 = no ready, leased or delayed job at all),
--          then per job: id, entry, priority, attempts, maxAttempts, timeoutMs, payload, headers, createdAt, runAt}
-- @include common
local base, jobBase, consumer = ARGV[1], ARGV[2], ARGV[3]
local count, now = tonumber(ARGV[4]), tonumber(ARGV[5])

for _, jobId in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[6]))) do
  redis.call('ZREM', KEYS[2], jobId)
  local jobKey = jobBase .. jobId
  local job = redis.call('HMGET', jobKey, 'state', 'priority')
  if job[1] == 'delayed' or job[1] == 'retrying' then
    make_ready(base, jobKey, jobId, job[2])
  end
end

local out = {-1, 0}
local found = 0
local levels = redis.call('ZREVRANGE', KEYS[1], 0, -1)
for _, level in ipairs(levels) do
  if found >= count then break end
  local stream = base .. 'ready:' .. level
  local read = redis.call('XREADGROUP', 'GROUP', GROUP, consumer, 'COUNT', count - found, 'STREAMS', stream, '>')
  if read then
    for _, item in ipairs(read[1][2]) do
      local entry, jobId = item[1], item[2][2]
      local job = redis.call('HMGET', jobBase .. jobId,
        'state', 'entry', 'attempts', 'maxAttempts', 'timeoutMs', 'payload', 'headers', 'createdAt', 'runAt')
      if job[1] == 'waiting' and job[2] == entry then
        found = found + 1
        out[#out + 1] = jobId
        out[#out + 1] = entry
        out[#out + 1] = level
        for i = 3, 9 do out[#out + 1] = job[i] or '' end
      else
        redis.call('XACK', stream, GROUP, entry)
        redis.call('XDEL', stream, entry)
      end
    end
  end
end

local nextDue = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if nextDue[2] then out[1] = tonumber(nextDue[2]) end
if found == 0 and not nextDue[2] then
  local backlog = 0
  for _, level in ipairs(levels) do backlog = backlog + redis.call('XLEN', base .. 'ready:' .. level) end
  if backlog == 0 then out[2] = 1 end
end
return out
