-- Records successful attempts, each fenced by its lease token and by this
-- broker being the lease's holder. Packed (see packed.ts): one call carries the
-- jobs of many tenants.
-- KEYS[1] any key of the first tenant (routes the call)
-- ARGV[1] the values below (ARGS), packed (see cmsgpack.ts)
-- ARGS[1] now (ms)  ARGS[2] retention of a finished job (ms; 0 = delete it)  ARGS[3] this broker's consumer name
-- then per tenant: its tenant key base, its job count, then per job 7 values:
--   id, queue, lease token, result, result content type, stream entry, priority
-- Returns one cmsgpack-packed list (see cmsgpack.ts), per job in argument
-- order: 0 recorded | 1 stale (not the current lease, or held by another
-- broker) | 2 no such job
-- The same Complete run again (its reply was lost: ioredis sends a command
-- again on a new connection, the broker writes an ack again after a failed
-- call) is answered 0 and records nothing more; with a retention of 0 the job
-- is gone by then, and the answer is 2 (JobStore.complete tells).
-- @include common
local ARGS = packed_args()
local now, retention, holder = ARGS[1], ARGS[2], ARGS[3]
local out = {}
-- Entries to ack and delete, per stream: one XACK and one XDEL per stream and
-- call. XDEL of the stream's first entry makes Redis look for the new first
-- entry past the deleted ones, once per command: one by one, ack and delete
-- cost 4.5 µs per job, 200 at a time 2.4 µs (a Lua loop on this Redis).
local finished, streams = {}, {}
each_group(ARGS, 4, 1, function(tenant, i, n)
  local tenantBase = tenant[1]
  for _ = 1, n do
    local jobKey = tenantBase .. 'job:' .. ARGS[i]
    local token = ARGS[i + 2]
    local job = redis.call('HMGET', jobKey, 'state', 'token', 'holder', 'endedToken')
    if not job[1] then
      out[#out + 1] = 2
    elseif job[1] == 'completed' and job[4] == token and job[3] == holder then
      out[#out + 1] = 0
    elseif job[1] ~= 'leased' or job[2] ~= token or job[3] ~= holder then
      out[#out + 1] = 1
    else
      -- the broker holding the lease knows its entry: no need to read it back
      local stream = tenantBase .. ARGS[i + 1] .. ':ready:' .. ARGS[i + 6]
      local entries = finished[stream]
      if not entries then
        entries = {}
        finished[stream] = entries
        streams[#streams + 1] = stream
      end
      entries[#entries + 1] = ARGS[i + 5]
      end_job(jobKey, retention, 'state', 'completed', 'result', ARGS[i + 3], 'resultType', ARGS[i + 4],
        'finishedAt', now, 'token', '', 'endedToken', token, 'entry', '')
      out[#out + 1] = 0
    end
    i = i + 7
  end
  return i
end)
for _, stream in ipairs(streams) do
  drop_entries(stream, unpack(finished[stream]))
end
return cmsgpack.pack(out)
