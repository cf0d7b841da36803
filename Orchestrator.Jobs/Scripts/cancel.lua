#!lua flags=allow-oom
-- allow-oom: runs above maxmemory too, so that what workers hold ends (recorded, canceled, handed
-- back) with Redis full: small writes that make jobs final (they then expire) or give them back.
--[[
  cancel: a client no longer wants a job (POST /jobs/{id}/cancel). A job that waits (queued, or
  retrying between attempts) becomes 'canceled' at once: its stream entry is acknowledged and
  deleted, its lease dropped, and it leaves the delayed set if it waits there. A job being processed
  is flagged (cancelRequested) and the workers are told on the cancel channel: the one running it
  aborts its LLM call and records 'canceled' (finish-attempt.lua); claim.lua and finish-attempt.lua
  start no further attempt of a flagged job.

  KEYS[1]  job hash            KEYS[2]  job history list (earlier jobs: includes/job.lua [history])
  KEYS[3]  jobs stream         KEYS[4]  dead-letter sorted set (only passed on to finalize)
  ARGV[1]  consumer group      ARGV[2]  cancel channel ({orch}:cancel; message: the job id)

  Times (completedAt, cancelRequestedAt) are Redis's own (TIME).

  Re-sent (or sent twice): a canceled job answers 'canceled' again, a flagged one 'requested'
  again (the workers are told again, which is harmless), changing nothing else.

  Returns  {'canceled', 'now'}   the job is canceled by this call (its cancel is counted once: a
                                 re-sent call answers the next line)
         | {'canceled'}          the job was canceled before
         | {'requested'}         the job is processing: its worker will abort the call
         | {'final', status}     the job had already completed or failed
         | {'missing'}           no such job (or it expired)
]]
local job, history, stream, deadLetters = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
--@include clock
--@include job
--@include ready

local group, channel, now = ARGV[1], ARGV[2], nowMs()

local f = redis.call('HMGET', job, 'status', 'entryId', 'retentionMs', 'tenant', 'id')
local status = f[1]
if not status then
  return {'missing'}
end
if status == 'canceled' then
  return {'canceled'}
end
if status == 'completed' or status == 'failed' then
  return {'final', status}
end

local jobId = f[5] or jobIdOf(job)
if status == 'processing' then
  if redis.call('HSETNX', job, 'cancelRequested', '1') == 1 then
    redis.call('HSET', job, 'cancelRequestedAt', now)
  end
  announce(channel, jobId)
  return {'requested'}
end

-- queued or retrying: nothing runs; a worker may hold the lease while it waits for the retry time,
-- and is told, so that it stops waiting (its later writes are refused: the lease is gone).
redis.call('HSET', job, 'status', 'canceled', 'completedAt', now, 'updatedAt', now, 'cancelRequested', '1', 'cancelRequestedAt', now)
redis.call('HDEL', job, 'lease', 'leaseOwner', 'nextAttemptAt')
-- A job waiting long for its retry is held in the delayed set, not the stream (issue 15).
-- and one not yet dispatched waits in its tenant's ready set (issue 16).
local prefix = string.match(stream, '^(.*):stream$')
redis.call('ZREM', prefix .. ':delayed', jobId)
leaveReady(prefix, jobId, f[4])
finalize(stream, group, deadLetters, job, history, jobId, f[2] or '0-0', f[3], false, now, f[4])
announce(channel, jobId)
return {'canceled', 'now'}
