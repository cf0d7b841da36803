-- Fragments the job scripts share, pasted where a script says `--@include job` when the scripts
-- are loaded (LuaScripts.cs), as BullMQ's includes/ are: one copy of the finishing logic.

-- The job id of a job hash key '<prefix>:job:<id>'.
local function jobIdOf(jobKey)
  return string.match(jobKey, ':job:([^:]+)$')
end

-- Job events (issue 19): each job has a capped stream of what happened to it, '<job key>:events'
-- (same hash tag, so the same slot), and every event is announced on one channel,
-- '<prefix>:events', with the message '<job id> <type>'. The API holds one subscription to it and
-- reads the job's stream when told; the stream is the record (ids, resumption), the message only a
-- wake-up. At most EVENTS_MAXLEN entries are kept (the oldest go first; the last one, 'done', stays),
-- and the stream expires with the job (finalize).
local EVENTS_MAXLEN = 1000

local function eventsOf(job)
  return job .. ':events'
end

local function emit(job, kind, ...)
  local id = redis.call('XADD', eventsOf(job), 'MAXLEN', EVENTS_MAXLEN, '*', 'type', kind, ...)
  redis.call('PUBLISH', string.match(job, '^(.*):job:[^:]+$') .. ':events', jobIdOf(job) .. ' ' .. kind)
  return id
end

-- A status transition, as the 'status' event clients see; attempt is the job's attempt count.
local function emitStatus(job, status, attempt, now)
  emit(job, 'status', 'status', status, 'attempt', tostring(attempt or 0), 'at', tostring(now))
end

-- The stream entry is done with: acknowledge and delete it so the stream stays short. A job in the
-- delayed set has no entry (entryId nil or ''): nothing to do.
local function ack(stream, group, entryId)
  if entryId == nil or entryId == '' then
    return
  end
  redis.call('XACK', stream, group, entryId)
  redis.call('XDEL', stream, entryId)
end

-- The job leaves the ready path until `due` (Unix ms): its stream entry is acknowledged and
-- deleted, its lease dropped, and it waits in the delayed set (score = due) for promote.lua to give
-- it a new entry. The delivery ended cleanly (an outcome or a wait was recorded), so it is not
-- counted towards the delivery cap, as release.lua does not count a hand-back.
local function toDelayed(stream, group, delayed, job, entryId, jobId, due)
  ack(stream, group, entryId)
  redis.call('HDEL', job, 'lease', 'leaseOwner', 'entryId')
  redis.call('HINCRBY', job, 'deliveries', -1)
  redis.call('HSET', job, 'nextAttemptAt', string.format('%d', due))
  redis.call('ZADD', delayed, due, jobId)
end

-- A job reached a final state. Its entry is done with; it expires after its retention (ms, 0 =
-- kept); a failed job joins the dead letters, the global set and its tenant's own
-- (deadLetters .. ':' .. tenant, same hash tag; a job stored before tenants existed belongs to
-- 'default'), which keep only what is younger than the retention. Every path that dead-letters a
-- job comes here, so every one prunes.
-- Its final status (already in the hash) and then 'done' are the last events of its stream.
local function finalize(stream, group, deadLetters, job, history, jobId, entryId, retentionMs, failed, now, tenant)
  ack(stream, group, entryId)
  if redis.call('TYPE', job).ok == 'hash' then
    local final = redis.call('HMGET', job, 'status', 'attempts')
    emitStatus(job, final[1], final[2], now)
    emit(job, 'done', 'status', final[1])
  end
  local tenantDeadLetters = deadLetters .. ':' .. (tenant or 'default')
  if failed then
    redis.call('ZADD', deadLetters, now, jobId)
    redis.call('ZADD', tenantDeadLetters, now, jobId)
  end
  local retention = tonumber(retentionMs or '0') or 0
  if retention > 0 then
    redis.call('PEXPIRE', job, retention)
    redis.call('PEXPIRE', history, retention)
    redis.call('PEXPIRE', eventsOf(job), retention)
    if failed then
      redis.call('ZREMRANGEBYSCORE', deadLetters, '-inf', '(' .. (tonumber(now) - retention))
      redis.call('ZREMRANGEBYSCORE', tenantDeadLetters, '-inf', '(' .. (tonumber(now) - retention))
    end
  end
end

-- What a job's own step raised, as text; nil when the error is the server's (OOM, READONLY,
-- BUSY, …), which must fail the whole call so that the caller sends it again. A job's own error is
-- a Lua runtime error on one of its values, a value that is not JSON, or a key of the wrong type.
local function jobError(e)
  if type(e) ~= 'table' then
    return tostring(e)
  end
  local message = e.err or ''
  if string.sub(message, 1, 9) == 'WRONGTYPE' then
    return message
  end
  return nil
end

-- Sets aside a job that cannot be processed (a value that does not parse, a step that fails):
-- failed and dead-lettered with error type 'corrupt', its entry acknowledged. A job's step reads
-- and checks everything before its first write, so a job set aside was not half changed.
-- Returns the message stored in the job's error.
local function setAside(stream, group, deadLetters, job, history, entryId, message, now)
  local retention, tenant = '0', nil
  message = 'The job could not be processed: ' .. message
  if redis.call('TYPE', job).ok == 'hash' then
    redis.call('HSET', job, 'status', 'failed', 'completedAt', now, 'updatedAt', now,
      'error', cjson.encode({type = 'corrupt', message = message}))
    redis.call('HDEL', job, 'lease', 'leaseOwner', 'nextAttemptAt')
    local stored = redis.call('HMGET', job, 'retentionMs', 'tenant')
    retention, tenant = stored[1] or '0', stored[2] or nil
  end
  finalize(stream, group, deadLetters, job, history, jobIdOf(job), entryId, retention, true, now, tenant)
  return message
end

-- Runs one job's step of a batch script; a job's own error sets that job aside and answers
-- {'corrupt', message}, leaving the other jobs of the batch alone.
local function isolated(stream, group, deadLetters, job, history, entryId, now, step, ...)
  local ok, reply = pcall(step, ...)
  if ok then
    return reply
  end
  local message = jobError(reply)
  if message == nil then
    error(reply)
  end
  return {'corrupt', setAside(stream, group, deadLetters, job, history, entryId, message, now)}
end
