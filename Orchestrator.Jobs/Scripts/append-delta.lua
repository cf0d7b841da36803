--[[
  append-delta: text the provider streamed during attempts, batched by the worker, appended to
  each job's events as a 'delta' event (GET /jobs/{id}/events), any number of jobs in one
  call (the worker commits the batches that are ready together). Each job is its own fenced write:
  only the lease holder, for the attempt running, with the job 'processing'.

  KEYS[i]  job i's hash (i = 1 … n)
  ARGV[4i - 3] … ARGV[4i]   job i's lease token, attempt number, batch number (1, 2, … within
                            the attempt), and the text

  Re-sent: identified by lease token, attempt and batch number (lastDelta); a batch that was
  appended already answers 1 again and is not appended twice.

  Returns one reply per job, in order: 1 when appended (now or before), 0 when the caller's lease
  or attempt is stale (or the job's key is not a hash: nothing is appended for it).
]]
--@include job

local function appendDelta(job, token, attempt, batch, text)
  local f = redis.call('HMGET', job, 'lease', 'status', 'attempts', 'lastDelta')
  local identity = token .. ':' .. attempt .. ':' .. batch
  if f[4] == identity then
    return 1
  end
  if f[1] ~= token or f[2] ~= 'processing' or f[3] ~= attempt then
    return 0
  end
  emitDelta(job, attempt, text)
  redis.call('HSET', job, 'lastDelta', identity)
  return 1
end

local replies = {}
for i = 1, #KEYS do
  local a = 4 * (i - 1)
  local ok, reply = pcall(appendDelta, KEYS[i], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4])
  if not ok then
    -- A job's own error (its key of another type) leaves the others' appends alone; the server's
    -- (OOM, READONLY, …) fails the call, to be sent again.
    if jobError(reply) == nil then error(reply) end
    reply = 0
  end
  replies[i] = reply
end
return replies
