--[[
  promote: jobs in the delayed set whose time has come go back to the ready path: each joins its
  tenant's ready set (includes/ready.lua; dispatch.lua sends it into the stream by fair share, in
  its priority's place as of now; a job back from a wait for its deployment in the place of its
  submission, placeAt from defer.lua) and leaves the delayed set. Every worker runs it every
  Worker:ReclaimInterval; no leader is needed, because a promotion is idempotent: a second promoter
  finds the member gone, or the job already holding an entry, and does nothing for it.

  KEYS[1]  delayed sorted set  {orch}:delayed
  KEYS[2]  jobs stream         KEYS[3]  dead-letter sorted set (a job set aside as corrupt goes
                               there, and to KEYS[3] .. ':' .. tenant)
  The job hashes are <prefix>:job:<id>, <prefix> being KEYS[1] without ':delayed': the same hash
  tag, so the same slot on Redis Cluster (as BullMQ's scripts derive job keys from their prefix).

  ARGV[1]  at most this many jobs per call   ARGV[2]  consumer group
  Due means a score at or before now on Redis's clock (TIME), the clock the scores were written by.

  Each job is handled in a protected call: one whose hash has the wrong type or an unknown status
  is set aside (failed, error type 'corrupt', dead-lettered) and leaves the set; the others go on.

  Returns {promoted, examined}: jobs moved to a ready set, and members looked at (promoted, or dropped
  from the set because the job is gone, final, or already has an entry). examined = ARGV[1]
  means more may be due: the caller calls again.
]]
--@include clock
--@include job
--@include ready

local delayed, stream, deadLetters = KEYS[1], KEYS[2], KEYS[3]
local now, limit, group = nowMs(), tonumber(ARGV[1]), ARGV[2]
local prefix = string.sub(delayed, 1, -(string.len(':delayed') + 1))

local function promote(job, jobId)
  local fields = redis.call('HMGET', job, 'status', 'entryId', 'tenant', 'priority', 'placeAt')
  local status = fields[1]
  if not status or status == 'completed' or status == 'failed' or status == 'canceled' or (fields[2] and fields[2] ~= '') then
    -- Gone (expired), final, or promoted already by another worker: only the member is left over.
    redis.call('ZREM', delayed, jobId)
    return 0
  end
  if status ~= 'queued' and status ~= 'retrying' then
    error('unexpected status ' .. tostring(status) .. ' in the delayed set')
  end
  -- The ready set first: at maxmemory Redis refuses the script's first write and nothing has changed.
  -- A job back from a wait for its deployment keeps its place (placeAt, from defer.lua), once.
  local _, refused = enqueueReady(prefix, jobId, fields[3], fields[4], tonumber(fields[5]))
  if refused then
    error({err = refused})
  end
  if fields[5] then
    redis.call('HDEL', job, 'placeAt')
  end
  redis.call('ZREM', delayed, jobId)
  return 1
end

local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, limit)
local promoted = 0
for _, jobId in ipairs(due) do
  local job = prefix .. ':job:' .. jobId
  local reply = isolated(stream, group, deadLetters, job, job .. ':attempts', '', now, promote, job, jobId)
  if type(reply) == 'table' then
    -- Set aside: it leaves the set with it.
    redis.call('ZREM', delayed, jobId)
  else
    promoted = promoted + reply
  end
end
return {promoted, #due}
