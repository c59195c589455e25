-- Gives back what a call that reads jobs (a fetch, an enqueue's claims) read,
-- when its reply never came (a timeout, a connection that failed for good):
-- the broker does not know those jobs. Each
-- job still where the call left it goes to the tail of its ready stream as a
-- new entry no broker has read (the held one acked and deleted); one the call
-- leased is first unleased (no worker got it, so no attempt is counted). A
-- call that has not run yet (still on its way, or never to arrive) finds the
-- mark left here and does nothing (an enqueue stores no job). See
-- includes/call_record.lua.
-- KEYS[1] the call's record key
-- ARGV[1] this broker's consumer name  ARGV[2] how long the mark is kept (ms)
-- Returns the number of jobs given back
-- @include common
-- @include call_record
local recorded = redis.call('GET', KEYS[1])
if recorded == RECORD_ABANDONED then return 0 end
local given = 0
for _, part in ipairs(recorded and read_record(cmsgpack.unpack(recorded).p, ARGV[1]) or {}) do
  for _, job in ipairs(part.jobs) do
    if job.still == 'leased' then unlease_recorded(job) end
    if job.still then
      requeue(part.base, job.key, job.id, job.level)
      given = given + 1
    end
  end
end
redis.call('SET', KEYS[1], RECORD_ABANDONED, 'PX', ARGV[2])
return given
