-- Reads up to `count` new entries of a tenant×queue into this broker's pending
-- list, highest priority first, after promoting its due delayed jobs; only
-- those of priorities above `above` (-1: all), for a read that is to bring a
-- buffer only jobs that beat the lowest it holds (see PrefetchBuffers). Entries
-- whose job is no longer waiting on them (cancelled, expired, superseded) are
-- acked and deleted on the way. The first #tokens jobs read are leased at once
-- under those tokens, as lease.lua would (a direct dispatch). Used by fetch.lua,
-- and by enqueue.lua for a claim (the fetch an enqueue's new jobs would need).
-- `own`, when given, maps the ids of jobs this script call has just stored to
-- {maxAttempts, timeoutMs, createdAt, runAt}: those are answered without reading
-- their hash back, payload and headers left '' (the caller holds them).
-- Appends to `out`: nextDueMs or -1, idle (1 = no ready, leased or delayed job
-- at all), the number of jobs n, how many of the first ones were leased, then
-- per job (attempts as before any lease):
--   id, entry, priority, attempts, maxAttempts, timeoutMs, payload, headers, createdAt, runAt
local function read_ready(out, base, jobBase, count, above, tokens, now, consumer, promoteLimit, own)
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
        -- a retry's attempt starts without the failed attempt's progress
        if job[1] == 'retrying' then redis.call('HDEL', jobKey, 'progress', 'progressType') end
        make_ready(base, jobKey, jobId, job[2])
      end
    end
    nextDue = earliest_due(delayed)
  end

  local head = #out
  out[head + 1], out[head + 2], out[head + 3], out[head + 4] = -1, 0, 0, 0
  local found = 0
  local levels = redis.call('ZREVRANGE', base .. 'levels', 0, -1)
  -- An entry read is no longer waiting: it leaves the requeued ones (see requeue in common.lua).
  local requeued = base .. 'requeued'
  local anyRequeued = redis.call('EXISTS', requeued) == 1
  for _, level in ipairs(levels) do
    if found >= count or tonumber(level) <= above then break end
    local stream = base .. 'ready:' .. level
    local read = redis.call('XREADGROUP', 'GROUP', GROUP, consumer, 'COUNT', count - found, 'STREAMS', stream, '>')
    if read then
      for _, item in ipairs(read[1][2]) do
        local entry, jobId = item[1], item[2][2]
        if anyRequeued then redis.call('ZREM', requeued, requeued_member(level, entry)) end
        local mine = own and own[jobId]
        local job = mine and {'waiting', entry, '0', mine[1], mine[2], '', '', mine[3], mine[4]}
          or redis.call('HMGET', jobBase .. jobId,
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
          drop_entries(stream, entry)
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

-- read_ready for one part of a call that carries many tenants: a failure (a
-- ready stream without its consumer group, say) is answered in place of the
-- part as -2 and its message. A script error would drop the whole reply, and
-- with it the jobs the parts before had leased at once: those expired later
-- as failed attempts, never sent. The jobs the failed part had read before its
-- error (at a higher priority level) go back to the tail of their streams,
-- unread, a lease begun on one taken back: the broker never hears of them, and
-- they sat in its pending list until the sweep, a leased one to expire as a
-- failed attempt. Its promotions stay.
local function read_ready_part(out, base, jobBase, count, above, tokens, ...)
  local mark = #out
  local ok, err = pcall(read_ready, out, base, jobBase, count, above, tokens, ...)
  if not ok then
    local read = 0
    for i = mark + 5, #out, 10 do
      read = read + 1
      local jobId, level, attempts = out[i], out[i + 2], out[i + 3]
      local jobKey = jobBase .. jobId
      if read <= #tokens then unlease(jobKey, tonumber(attempts) or 0) end
      requeue(base, jobKey, jobId, level)
    end
    for k = #out, mark + 1, -1 do out[k] = nil end
    out[mark + 1] = -2
    out[mark + 2] = type(err) == 'table' and tostring(err.err) or tostring(err)
  end
end
