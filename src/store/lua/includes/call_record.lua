-- The record a call that reads jobs (fetch.lua, and enqueue.lua for its
-- claims) keeps of what it read, for as long as a lease lives. XREADGROUP '>'
-- reads new entries each time it runs, so a call that ran twice (its reply
-- lost, ioredis sends it again on its next connection) read other jobs the
-- second time, and the first run's jobs sat in this broker's pending list
-- unknown to it: read ones until the recovery sweep, leased ones until their
-- lease expired as a failed attempt (with max_attempts 1, dead without having
-- run). With the record, a second run answers the first run's jobs, and a call
-- whose reply never came gives them back (abandon_call.lua).
-- A record is one cmsgpack-packed map: `p` the parts read, and for an enqueue
-- `o` its outcomes (see enqueue.lua). `p` is per part (tenant×queue) of the
-- call, in argument order: its key base, its job key base, its job count n,
-- how many of them the call leased L (the first ones), then per job its id and
-- entry. The rest (attempts, level) is read back from the job: a smaller
-- record cost the calls of 100 or 10,000 tenants less (each part's jobs are
-- few there, the record's share of the call larger).

-- What abandon_call.lua leaves under a call's record key when the call had
-- not run yet: if it runs later, it reads nothing.
local RECORD_ABANDONED = 'abandoned'

-- Appends to `record` (its `p`) the part read_ready appended to `out` from
-- out[head + 1] on (a failed part, -2 and its message, read no job).
local function record_part(record, out, head, base, jobBase)
  local found = out[head + 1] == -2 and 0 or out[head + 3]
  record[#record + 1] = base
  record[#record + 1] = jobBase
  record[#record + 1] = found
  record[#record + 1] = found > 0 and out[head + 4] or 0
  for i = head + 5, head + 4 + 10 * found, 10 do
    record[#record + 1] = out[i]
    record[#record + 1] = out[i + 1]
  end
end

-- The parts of a record (its `p`) with their jobs as they stand now. Per part:
-- base, jobBase, jobs; per job: key, id, entry, level, attempts (as stored
-- now), whether the call leased it, and `still`: 'leased' (by `consumer`, on
-- its entry), 'read' (waiting on its entry), or nil when someone else has
-- moved it since (a cancel, a reclaim).
local function read_record(record, consumer)
  local parts, i = {}, 1
  while i <= #record do
    local part = {base = record[i], jobBase = record[i + 1], jobs = {}}
    local n, leased = tonumber(record[i + 2]), tonumber(record[i + 3])
    i = i + 4
    for k = 1, n do
      local job = {id = record[i], entry = record[i + 1], leased = k <= leased}
      job.key = part.jobBase .. job.id
      local now = redis.call('HMGET', job.key, 'state', 'entry', 'holder', 'attempts', 'priority')
      job.attempts, job.level = tonumber(now[4]) or 0, now[5]
      if now[2] == job.entry then
        if job.leased and now[1] == 'leased' and now[3] == consumer then
          job.still = 'leased'
        elseif not job.leased and now[1] == 'waiting' then
          job.still = 'read'
        end
      end
      part.jobs[#part.jobs + 1] = job
      i = i + 2
    end
    parts[#parts + 1] = part
  end
  return parts
end

-- Takes back a lease of the call's that no worker got (see unlease): the job
-- waits again on the same entry.
local function unlease_recorded(job)
  job.attempts, job.still = job.attempts - 1, 'read'
  unlease(job.key, job.attempts)
end

-- Appends to `out` a part of the call's answer again, from its record, as
-- read_ready answered it the first time: the jobs still where the first run
-- left them, its leases first. A lease after one that is gone is taken back
-- (the broker maps leases to its tokens by position), so that job is answered
-- read.
local function answer_again(out, part)
  local head = #out
  out[head + 1] = earliest_due(part.base .. 'delayed') or -1
  out[head + 2] = 0
  local leased, read, inOrder = {}, {}, true
  for _, job in ipairs(part.jobs) do
    if job.leased then
      if job.still == 'leased' and inOrder then
        leased[#leased + 1] = job
      else
        inOrder = false
        if job.still == 'leased' then
          unlease_recorded(job)
          read[#read + 1] = job
        end
      end
    elseif job.still == 'read' then
      read[#read + 1] = job
    end
  end
  out[head + 3] = #leased + #read
  out[head + 4] = #leased
  for _, jobs in ipairs({leased, read}) do
    for _, job in ipairs(jobs) do
      local fields = redis.call('HMGET', job.key, 'maxAttempts', 'timeoutMs', 'payload', 'headers', 'createdAt', 'runAt')
      out[#out + 1] = job.id
      out[#out + 1] = job.entry
      out[#out + 1] = job.level
      -- attempts as before any lease, as read_ready answers them
      out[#out + 1] = job.still == 'leased' and job.attempts - 1 or job.attempts
      for i = 1, 6 do out[#out + 1] = fields[i] or '' end
    end
  end
end

-- The arguments every recorded call begins with: this broker's consumer name,
-- the call's record key, how long the record is kept (ms), then a count d and
-- d record keys of calls whose answers the broker has had (see
-- forget_answered). Returns the first three and the index of the call's own
-- arguments after them all.
local function recorded_call(args)
  return args[1], args[2], args[3], 5 + tonumber(args[4])
end

-- Deletes the records of calls whose answers the broker has had, named in a
-- recorded call's arguments. Last in a script: Redis lets a script that has
-- written once write on past `maxmemory` (a script runs whole), so a delete
-- ahead of enqueue.lua's first write let it store jobs in a full Redis.
local function forget_answered(args)
  for k = 5, 4 + tonumber(args[4]) do redis.call('DEL', args[k]) end
end
