-- Records a failed attempt (reported by the worker, timed out, or a lease that
-- expired), fenced by the lease token, then retries or buries the job.
-- KEYS[1] job hash
-- ARGV[1] tenant×queue key base  ARGV[2] job id  ARGV[3] lease token  ARGV[4] now (ms)
-- ARGV[5] error message  ARGV[6] retryable (1/0)  ARGV[7] retry after (ms, 0 = backoff)
-- ARGV[8] random in [0, 1) for the jitter  ARGV[9] retention of a dead job (ms)
-- ARGV[10] this broker's consumer name (a lease adopted by another broker is stale here)
-- Returns {0, 1, runAt} retrying | {0, 2, 0} dead | {1} stale token | {2} no such job
-- The same Fail run again (its reply was lost: ioredis sends a command again
-- on a new connection, the broker writes an ack again after a failed call) is
-- answered as the first run was, and records nothing more.
-- @include common
local job = redis.call('HMGET', KEYS[1], 'state', 'token', 'holder', 'endedToken', 'runAt')
if not job[1] then return {2} end
if job[1] == 'leased' and job[2] == ARGV[3] and job[3] == ARGV[10] then
  local outcome = fail_attempt(ARGV[1], KEYS[1], ARGV[2], tonumber(ARGV[4]), ARGV[5],
    ARGV[6] == '1', tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[3])
  return {0, outcome[1], outcome[2]}
end
-- This Fail ran before: the last attempt ended by its holder is this one, and
-- this broker is still the holder. The job is dead since, or was retried: it
-- waits out its backoff, or was promoted, leased again (by this broker) or
-- cancelled since, and its run time is still that retry's. A completed job
-- was ended by a Complete of this lease, not by this Fail.
if job[4] == ARGV[3] and job[3] == ARGV[10] and job[1] ~= 'completed' then
  if job[1] == 'dead' then return {0, 2, 0} end
  return {0, 1, tonumber(job[5])}
end
return {1}
