-- Cancels a job that has not ended: removes it from its ready stream or the
-- delayed set and revokes its lease (the broker then tells the worker).
-- KEYS[1] job hash
-- ARGV[1] tenant key base  ARGV[2] job id  ARGV[3] now (ms)  ARGV[4] retention (ms; 0 = delete the job)
-- Returns {0} no such job | {1, state} already ended in `state` | {2, previousState,
-- queue} cancelled
-- @include common
local job = redis.call('HMGET', KEYS[1], 'state', 'queue')
if not job[1] then return {0} end
local state = job[1]
if state == 'completed' or state == 'dead' or state == 'cancelled' then return {1, state} end
local base = ARGV[1] .. job[2] .. ':'
release_entry(base, KEYS[1])
redis.call('ZREM', base .. 'delayed', ARGV[2])
end_job(KEYS[1], ARGV[4], 'state', 'cancelled', 'finishedAt', ARGV[3], 'token', '')
return {2, state, job[2]}
