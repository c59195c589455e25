-- Shared by every script. Job states live in the job hash field `state`:
-- waiting, delayed, leased, retrying, completed, dead, cancelled.
local GROUP = 'rota'

-- The ready stream of priority `level` of a tenant×queue, created with its
-- consumer group the first time the level is used.
local function ensure_level(base, level)
  local stream = base .. 'ready:' .. level
  if redis.call('ZADD', base .. 'levels', 'NX', level, level) == 1 then
    redis.pcall('XGROUP', 'CREATE', stream, GROUP, '0', 'MKSTREAM')
  end
  return stream
end

-- The consumer group's pending count on a ready stream, its first entry after
-- the group's last delivered id (never read by a broker), if any, and that id.
local function group_state(stream)
  local pending, lastDelivered = 0, '0-0'
  for _, group in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local fields = {}
    for i = 1, #group, 2 do fields[group[i]] = group[i + 1] end
    if fields['name'] == GROUP then
      pending = fields['pending']
      lastDelivered = fields['last-delivered-id']
    end
  end
  local unread = redis.call('XRANGE', stream, '(' .. lastDelivered, '+', 'COUNT', 1)[1]
  return pending, unread, lastDelivered
end

-- Whether stream entry id `a` comes after `b`.
local function entry_after(a, b)
  local aMs, aSeq = string.match(a, '^(%d+)-(%d+)$')
  local bMs, bSeq = string.match(b, '^(%d+)-(%d+)$')
  aMs, bMs = tonumber(aMs), tonumber(bMs)
  return aMs > bMs or (aMs == bMs and tonumber(aSeq) > tonumber(bSeq))
end

-- The member of a requeued entry in the set `base .. 'requeued'` (see requeue).
local function requeued_member(level, entry)
  return level .. '/' .. entry
end

-- Run time of the earliest job in a delayed set, or nil when it is empty.
local function earliest_due(delayed)
  local first = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
  return first[2] and tonumber(first[2])
end

-- Appends an entry for the job to the ready stream of priority `level` and
-- returns its id. A level's stream, once ensure_level made it, is never
-- deleted, so a stream that exists has its level and group: XADD NOMKSTREAM
-- tells that and appends in one command, where an ensure_level first was a
-- second command per call (per job when a batch spreads over many tenants).
local function append_ready(base, level, jobId)
  local stream = base .. 'ready:' .. level
  local entry = redis.call('XADD', stream, 'NOMKSTREAM', '*', 'j', jobId)
  if entry then return entry end
  ensure_level(base, level)
  return redis.call('XADD', stream, '*', 'j', jobId)
end

-- Appends the job to the tail of its ready stream and marks it waiting.
local function make_ready(base, jobKey, jobId, level)
  local entry = append_ready(base, level, jobId)
  redis.call('HSET', jobKey, 'state', 'waiting', 'entry', entry)
  return entry
end

-- Starts an attempt of a waiting job under a fresh fencing token, held by this
-- broker (lease.lua, and fetch.lua for a direct dispatch).
local function start_lease(jobKey, token, attempt, now, holder)
  redis.call('HSET', jobKey, 'state', 'leased', 'token', token, 'attempts', attempt,
    'leasedAt', now, 'holder', holder)
end

-- Ends a job (completed or cancelled): its hash keeps the given final fields
-- for `retention` ms, or is deleted at once when the retention is 0 (nothing
-- to read back; for Redis a write less now and an expiry less later).
local function end_job(jobKey, retention, ...)
  if tonumber(retention) == 0 then
    redis.call('DEL', jobKey)
  else
    redis.call('HSET', jobKey, ...)
    redis.call('PEXPIRE', jobKey, retention)
  end
end

-- Acks and deletes entries of a ready stream: a job done with them, or an entry
-- no job waits on any more.
local function drop_entries(stream, ...)
  redis.call('XACK', stream, GROUP, ...)
  redis.call('XDEL', stream, ...)
end

-- Entries of priority `level` deleted unread leave the set of requeued ones
-- (see requeue). Left there, a cancelled or purged job's entry stayed until
-- a depth read found it gone, and each fetch of its tenant×queue meanwhile
-- looked for the entries it read in the set.
local function forget_requeued(base, level, entries)
  local members = {}
  for i, entry in ipairs(entries) do members[i] = requeued_member(level, entry) end
  redis.call('ZREM', base .. 'requeued', unpack(members))
end

-- Removes the job's current stream entry (acked and deleted), if it has one.
local function release_entry(base, jobKey)
  local current = redis.call('HMGET', jobKey, 'entry', 'priority')
  if current[1] and current[1] ~= '' then
    local stream = base .. 'ready:' .. current[2]
    drop_entries(stream, current[1])
    forget_requeued(base, current[2], {current[1]})
    redis.call('HSET', jobKey, 'entry', '')
  end
end

-- Gives a job read by a broker back to the tail of its ready stream, as a new
-- entry no broker has read (the held one acked and deleted), so any broker's
-- next fetch takes it: a read ahead let go, a reclaim, a lost call's job.
-- The new entry is noted in the sorted set `base .. 'requeued'` under the
-- time the job became runnable (its runAt) until a broker reads it
-- (read_ready.lua): the oldest waiting job's age (queue_depth, depth.lua)
-- counted from the tail entry's id restarted at every give-back, so a job
-- waiting for minutes looked just enqueued.
local function requeue(base, jobKey, jobId, level)
  release_entry(base, jobKey)
  local entry = make_ready(base, jobKey, jobId, level)
  local runAt = redis.call('HGET', jobKey, 'runAt')
  if runAt then redis.call('ZADD', base .. 'requeued', runAt, requeued_member(level, entry)) end
end

-- Takes back a lease no worker got: the job waits again, `attempts` (those
-- before the lease) restored, so the attempt it began is not counted.
local function unlease(jobKey, attempts)
  redis.call('HSET', jobKey, 'state', 'waiting', 'attempts', attempts, 'token', '')
end

-- After a failed attempt: the next attempt waits out exponential backoff with
-- full jitter (uniform in [0, min(max, initial * 2^(attempts-1))]) unless
-- retryAfterMs > 0 asks for a fixed delay; out of attempts, or not retryable,
-- the job goes to the dead letter queue.
-- The job's field `endedToken` keeps `endedToken`: the attempt's lease token
-- when the lease's holder ends it (fail.lua; complete.lua writes it too), so a
-- second run of the same ack knows it ran; '' when a broker that does not hold
-- the lease ends it (reclaim.lua).
-- Returns {1, runAt} when an attempt follows, {2, 0} when the job is dead.
local function fail_attempt(base, jobKey, jobId, now, message, retryable, retryAfterMs, random, deadRetentionMs,
                            endedToken)
  release_entry(base, jobKey)
  local job = redis.call('HMGET', jobKey, 'attempts', 'maxAttempts', 'backoffInitialMs', 'backoffMaxMs')
  local attempts = tonumber(job[1]) or 0
  local maxAttempts = tonumber(job[2]) or 1
  redis.call('HSET', jobKey, 'error', message, 'token', '', 'endedToken', endedToken)
  if retryable and attempts < maxAttempts then
    local delay = retryAfterMs
    if delay <= 0 then
      local ceiling = math.min(tonumber(job[4]) or 0, (tonumber(job[3]) or 0) * 2 ^ (attempts - 1))
      delay = math.floor(random * ceiling)
    end
    local runAt = now + delay
    redis.call('HSET', jobKey, 'state', 'retrying', 'runAt', runAt)
    redis.call('ZADD', base .. 'delayed', runAt, jobId)
    return {1, runAt}
  end
  redis.call('HSET', jobKey, 'state', 'dead', 'finishedAt', now)
  redis.call('ZADD', base .. 'dead', now, jobId)
  redis.call('ZREMRANGEBYSCORE', base .. 'dead', '-inf', now - deadRetentionMs)
  redis.call('PEXPIRE', jobKey, deadRetentionMs)
  return {2, 0}
end

-- The arguments of a packed call: one MessagePack array of strings in ARGV[1]
-- (see cmsgpack.ts), read like ARGV.
local function packed_args()
  return cmsgpack.unpack(ARGV[1])
end

-- Walks the groups a packed call carries from args[first] on (see packed.ts):
-- each is `headerSize` values, a count n, then n items. Calls
-- visit(header, i, n) per group, i being the index of its first item; the
-- visitor reads its items and returns the index after the last one.
local function each_group(args, first, headerSize, visit)
  local i = first
  while i <= #args do
    local header = {unpack(args, i, i + headerSize - 1)}
    local n = tonumber(args[i + headerSize])
    i = visit(header, i + headerSize + 1, n)
  end
end
