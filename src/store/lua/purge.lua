-- One step of a purge: cancels the jobs of a tenant×queue that wait to run
-- (ready, delayed, or waiting out a retry's backoff) and were created by a
-- given time, looking at up to ARGV[6] of them; the caller repeats the step
-- with the cursor it answers until that is ''. Leased jobs run to their end.
-- The delayed set goes first, by ZSCAN (which returns every member present
-- throughout the scan); the ready streams after it, each up to the entry that
-- was its last when the delayed set was done. So a job that waited when the
-- purge began is met in one place or the other, also when it is promoted from
-- the delayed set to its stream meanwhile.
-- KEYS[1] the tenant×queue's delayed set (routes the call)
-- ARGV[1] tenant×queue key base  ARGV[2] job key base  ARGV[3] created by (ms):
--   newer jobs are kept  ARGV[4] now (ms)  ARGV[5] retention of a cancelled job
--   (ms; 0 = delete it)  ARGV[6] most jobs to look at  ARGV[7] cursor: '' to
--   begin, else what the step before answered
-- Returns {jobs cancelled, next cursor ('' = done)}
-- Cursors: 'delayed <ZSCAN cursor>', or 'ready' then per priority level left
-- '<level> <last entry looked at or -> <last entry to look at>'.
-- @include common
local base, jobBase, createdBy, now, retention = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local budget = tonumber(ARGV[6])
local cursor = ARGV[7]
if cursor == '' then cursor = 'delayed 0' end
local purged = 0

-- Cancels the job when it still waits in `states` (and, for a stream entry,
-- on that entry) and is old enough; says whether it did.
local function purge(jobId, states, entry)
  local jobKey = jobBase .. jobId
  local job = redis.call('HMGET', jobKey, 'state', 'entry', 'createdAt')
  if not states[job[1]] or (entry and job[2] ~= entry) or (tonumber(job[3]) or 0) > createdBy then
    return false
  end
  end_job(jobKey, retention, 'state', 'cancelled', 'finishedAt', now, 'token', '', 'entry', '')
  purged = purged + 1
  return true
end

local words = {}
for word in string.gmatch(cursor, '%S+') do words[#words + 1] = word end

if words[1] == 'delayed' then
  local delayed = KEYS[1]
  local scan = redis.call('ZSCAN', delayed, words[2], 'COUNT', budget)
  local members = scan[2]
  for i = 1, #members, 2 do
    if purge(members[i], {delayed = true, retrying = true}) then redis.call('ZREM', delayed, members[i]) end
  end
  if scan[1] ~= '0' then return {purged, 'delayed ' .. scan[1]} end
  -- The delayed set is done: each stream is looked at up to its last entry now.
  words = {'ready'}
  for _, level in ipairs(redis.call('ZREVRANGE', base .. 'levels', 0, -1)) do
    local last = redis.call('XREVRANGE', base .. 'ready:' .. level, '+', '-', 'COUNT', 1)[1]
    if last then
      words[#words + 1], words[#words + 2], words[#words + 3] = level, '-', last[1]
    end
  end
  budget = math.max(0, budget - #members / 2)
end

-- words: 'ready', then level, last looked at, bound; per level left
local i = 2
while i <= #words and budget > 0 do
  local stream = base .. 'ready:' .. words[i]
  local from = words[i + 1] == '-' and '-' or '(' .. words[i + 1]
  local entries = redis.call('XRANGE', stream, from, words[i + 2], 'COUNT', budget)
  local dropped = {}
  for _, item in ipairs(entries) do
    if purge(item[2][2], {waiting = true}, item[1]) then dropped[#dropped + 1] = item[1] end
  end
  if #dropped > 0 then
    drop_entries(stream, unpack(dropped))
    forget_requeued(base, words[i], dropped)
  end
  local last = entries[#entries]
  if #entries == budget and last[1] ~= words[i + 2] then
    words[i + 1] = last[1]
  else
    i = i + 3 -- this level is done
  end
  budget = budget - #entries
end
if i > #words then return {purged, ''} end
return {purged, 'ready ' .. table.concat(words, ' ', i)}
