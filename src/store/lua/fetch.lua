-- Prefetch for tenant×queues: per tenant×queue, promote due delayed jobs to
-- their ready stream, then read up to `count` new entries, highest priority
-- first, into this broker's pending list. Entries whose job is no longer
-- waiting on them (cancelled, expired, superseded) are acked and deleted on the
-- way. One call carries many tenants (see packed.ts); each part touches only
-- its own tenant's keys. A direct dispatch also leases the first jobs read, under
-- the tokens given, as lease.lua would: one round trip less for a job that
-- arrives while a worker waits.
-- KEYS[1] any key of the first tenant (routes the call)
-- ARGV[1] the values below (ARGS), packed (see cmsgpack.ts)
-- ARGS[1] consumer  ARGS[2] now (ms)  ARGS[3] most delayed jobs to promote per tenant×queue
-- then per tenant×queue (a group of each_group): tenant×queue key base, job key
--   base, count, the number of jobs to lease at once L (0 = none), then L lease tokens
-- Returns one cmsgpack-packed list (see cmsgpack.ts): per tenant×queue, in
--   argument order, nextDueMs or -1, idle (1 = no ready, leased or delayed job
--   at all), the number of jobs n, how many of the first ones were leased, then
--   per job (attempts as before any lease):
--   id, entry, priority, attempts, maxAttempts, timeoutMs, payload, headers, createdAt, runAt
-- @include common
local ARGS = packed_args()
local consumer, now, promoteLimit = ARGS[1], tonumber(ARGS[2]), tonumber(ARGS[3])
local out = {}

local function fetch(base, jobBase, count, tokens)
  local delayed = base .. 'delayed'
  -- The earliest delayed job says whether any is due and is the reply's
  -- nextDue: one read in the common case of none due (or none at all).
  local nextDue = earliest_due(delayed)
  if nextDue and nextDue <= now then
    for _, jobId in ipairs(redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, promoteLimit)) do
      redis.call('ZREM', delayed, jobId)
      local jobKey = jobBase .. jobId
      local job = redis.call('HMGET', jobKey, 'state', 'priority')
      if job[1] == 'delayed' or job[1] == 'retrying' then
        make_ready(base, jobKey, jobId, job[2])
      end
    end
    nextDue = earliest_due(delayed)
  end

  local head = #out
  out[head + 1], out[head + 2], out[head + 3], out[head + 4] = -1, 0, 0, 0
  local found = 0
  local levels = redis.call('ZREVRANGE', base .. 'levels', 0, -1)
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
          if found <= #tokens then
            start_lease(jobBase .. jobId, tokens[found], (tonumber(job[3]) or 0) + 1, now, consumer)
          end
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
  out[head + 3] = found
  out[head + 4] = math.min(found, #tokens)

  if nextDue then out[head + 1] = nextDue end
  if found == 0 and not nextDue then
    local backlog = 0
    for _, level in ipairs(levels) do backlog = backlog + redis.call('XLEN', base .. 'ready:' .. level) end
    if backlog == 0 then out[head + 2] = 1 end
  end
end

each_group(ARGS, 4, 3, function(part, i, n)
  fetch(part[1], part[2], tonumber(part[3]), {unpack(ARGS, i, i + n - 1)})
  return i + n
end)
return cmsgpack.pack(out)
