-- The record a fetch call keeps of what it read (fetch.lua), for as long as a
-- lease lives. XREADGROUP '>' reads new entries each time it runs, so a call
-- that ran twice (its reply lost, ioredis sends it again on its next
-- connection) read other jobs the second time, and the first run's jobs sat
-- in this broker's pending list unknown to it: read ones until the recovery
-- sweep, leased ones until their lease expired as a failed attempt (with
-- max_attempts 1, dead without having run). With the record, a second run
-- answers the first run's jobs, and a call whose reply never came gives them
-- back (abandon_fetch.lua).
-- A record is one cmsgpack-packed list: per part (tenant×queue) of the call,
-- its key base, its job key base, its job count n, then per job 5 values: id,
-- entry, priority level, attempts before the call, lease token ('' when only
-- read). The call's leased jobs come first in each part, as in its reply.

-- What abandon_fetch.lua leaves under a call's record key when the call had
-- not run yet: if it runs later, it reads nothing.
local RECORD_ABANDONED = 'abandoned'

-- Appends to `record` the part read_ready appended to `out` from out[head + 1]
-- on (a failed part, -2 and its message, read no job).
local function record_part(record, out, head, base, jobBase, tokens)
  local found = out[head + 1] == -2 and 0 or out[head + 3]
  local leased = found > 0 and out[head + 4] or 0
  record[#record + 1] = base
  record[#record + 1] = jobBase
  record[#record + 1] = found
  local i = head + 5
  for k = 1, found do
    for offset = 0, 3 do record[#record + 1] = out[i + offset] end
    record[#record + 1] = k <= leased and tokens[k] or ''
    i = i + 10
  end
end

-- The parts of a record with their jobs as they stand now. Per part: base,
-- jobBase, jobs; per job: key, id, entry, level, attempts, token, and `still`:
-- 'leased' (under its token, by `consumer`), 'read' (waiting on its entry), or
-- nil when someone else has moved it since (a cancel, a reclaim).
local function read_record(record, consumer)
  local parts, i = {}, 1
  while i <= #record do
    local part = {base = record[i], jobBase = record[i + 1], jobs = {}}
    local n = tonumber(record[i + 2])
    i = i + 3
    for _ = 1, n do
      local job = {id = record[i], entry = record[i + 1], level = record[i + 2], attempts = record[i + 3],
        token = record[i + 4]}
      job.key = part.jobBase .. job.id
      local now = redis.call('HMGET', job.key, 'state', 'entry', 'token', 'holder')
      if now[2] == job.entry then
        if job.token ~= '' and now[1] == 'leased' and now[3] == job.token and now[4] == consumer then
          job.still = 'leased'
        elseif job.token == '' and now[1] == 'waiting' then
          job.still = 'read'
        end
      end
      part.jobs[#part.jobs + 1] = job
      i = i + 5
    end
    parts[#parts + 1] = part
  end
  return parts
end

-- Takes back a lease of the call's that no worker got: the job waits again on
-- the same entry, the attempt it began not counted.
local function unlease(job)
  redis.call('HSET', job.key, 'state', 'waiting', 'attempts', job.attempts, 'token', '')
end
