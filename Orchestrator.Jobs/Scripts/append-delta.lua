--[[
  append-delta: text the provider streamed during an attempt, batched by the worker, appended to
  the job's events stream as a 'delta' event (GET /jobs/{id}/events). Fenced like every worker
  write: only the lease holder, for the attempt running, with the job 'processing'.

  KEYS[1]  job hash
  ARGV[1]  lease token         ARGV[2]  attempt number
  ARGV[3]  batch number (1, 2, … within the attempt)
  ARGV[4]  the text

  Re-sent: identified by lease token, attempt and batch number (lastDelta); a batch that was
  appended already answers 1 again and is not appended twice.

  Returns 1 when appended (now or before), 0 when the caller's lease or attempt is stale.
]]
local job = KEYS[1]

--@include job

local f = redis.call('HMGET', job, 'lease', 'status', 'attempts', 'lastDelta')
local identity = ARGV[1] .. ':' .. ARGV[2] .. ':' .. ARGV[3]
if f[4] == identity then
  return 1
end
if f[1] ~= ARGV[1] or f[2] ~= 'processing' or f[3] ~= ARGV[2] then
  return 0
end
emit(job, 'delta', 'attempt', ARGV[2], 'text', ARGV[4])
redis.call('HSET', job, 'lastDelta', identity)
return 1
