--[[
  redrive: a dead-lettered job goes back to 'queued' with a fresh attempt budget (POST
  /dead-letters/{id}/redrive, and each job of POST /dead-letters/redrive). Its history stays: the
  new attempts are appended after the old ones. It leaves both dead-letter sets, joins its tenant's
  ready set (includes/ready.lua; dispatch.lua sends it on), and its keys stop expiring (a job not final does not expire),
  its webhook deliveries' records and tries too.

  KEYS[1]  job hash            KEYS[2]  job history list (earlier jobs: includes/job.lua [history])
  KEYS[3]  jobs stream         KEYS[4]  dead-letter sorted set (all tenants); the tenant's own is
                               KEYS[4] .. ':' .. tenant
  ARGV[1]  backlog bound (Api:MaxQueuedJobs), as submit.lua checks it
  ARGV[2]  error type the job must have failed with ('' = any)
  ARGV[3]  dead-lettered no earlier than this (Unix ms; '' = any)
  ARGV[4]  dead-lettered no later than this (Unix ms; '' = any)
  ARGV[5]  most attempts a job may have run, in all, to be redriven (Api:MaxAttemptsInAll; '' = any)

  Times (updatedAt, redrivenAt) are Redis's own (TIME).

  The budget: attempts stay counted (the history is kept), so the job gets maxAttempts =
  attempts − sharedLosses − releasedAttempts (the uncharged ones) + its original budget ('budget',
  kept from the first redrive), and its delivery and crash counts start again from its attempts
  and 0.

  Re-sent after it applied: the job is no longer failed, so it answers {'not-dead', status} and
  changes nothing; a batch of redrives sent twice redrives each job once.

  Returns  {'redriven'}
         | {'missing'}
         | {'not-dead', status}        not failed (already redriven, or never dead-lettered)
         | {'skipped'}                 failed, but not with that error type or in that time range
         | {'attempts-spent', attempts} it has run ARGV[5] attempts or more: nothing written
         | {'queue-full', queued}      the backlog bound is reached: nothing written
         | {'storage-full', error}     Redis is at maxmemory: nothing written
]]
local job, history, stream, deadLetters = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
--@include clock
--@include job
--@include ready

local now = nowMs()

local f = redis.call('HMGET', job, 'status', 'error', 'attempts', 'maxAttempts', 'sharedLosses', 'budget', 'tenant', 'id', 'priority',
  'releasedAttempts')
if not f[1] then
  return {'missing'}
end
if f[1] ~= 'failed' then
  return {'not-dead', f[1]}
end
local jobId = f[8] or jobIdOf(job)
local tenantDeadLetters = deadLetters .. ':' .. (f[7] or 'default')
local deadAt = redis.call('ZSCORE', deadLetters, jobId)
if ARGV[2] ~= '' then
  local ok, e = pcall(cjson.decode, f[2] or '')
  if not ok or type(e) ~= 'table' or e.type ~= ARGV[2] then
    return {'skipped'}
  end
end
if (ARGV[3] ~= '' and (not deadAt or tonumber(deadAt) < tonumber(ARGV[3])))
    or (ARGV[4] ~= '' and (not deadAt or tonumber(deadAt) > tonumber(ARGV[4]))) then
  return {'skipped'}
end
-- Each run adds its attempts to the job's history and a 'done' to its events, kept with the job: a
-- job redriven again and again grew them without end. Past the bound it is submitted again instead.
local attempts = tonumber(f[3] or '0')
if ARGV[5] ~= '' and attempts >= tonumber(ARGV[5]) then
  return {'attempts-spent', attempts}
end

local prefix = string.sub(stream, 1, -(string.len(':stream') + 1))
local queued = redis.call('XLEN', stream) + redis.call('ZCARD', prefix .. ':delayed') + readyCount(prefix)
if queued >= tonumber(ARGV[1]) then
  return {'queue-full', queued}
end
-- The first write, as in submit.lua: refused at maxmemory, nothing is written.
local _, refused = enqueueReady(prefix, jobId, f[7], f[9])
if refused then
  if string.sub(refused, 1, 4) == 'OOM ' then
    return {'storage-full', refused}
  end
  return redis.error_reply(refused)
end

local budget = tonumber(f[6] or f[4])
local uncharged = tonumber(f[5] or '0') + tonumber(f[10] or '0')
redis.call('HSET', job, 'status', 'queued', 'updatedAt', now, 'budget', budget,
  'maxAttempts', attempts - uncharged + budget, 'deliveries', attempts, 'crashes', 0, 'redrivenAt', now)
redis.call('HINCRBY', job, 'redrives', 1)
redis.call('HDEL', job, 'entryId', 'completedAt', 'error', 'result', 'nextAttemptAt', 'lease', 'leaseOwner', 'suspect', 'aloneAttempt',
  'cancelRequested', 'cancelRequestedAt')
redis.call('ZREM', deadLetters, jobId)
redis.call('ZREM', tenantDeadLetters, jobId)
redis.call('PERSIST', job)
redis.call('PERSIST', history)
redis.call('PERSIST', eventsOf(job))
redis.call('PERSIST', legacyEventsOf(job))
-- Its webhook deliveries live on with it (one still retrying keeps its tries): they expired with the
-- first run's retention, taking a pending delivery with them. finalize expires them again.
persistWebhooks(job, jobId)
-- [tenant quotas] Not final any more: it counts in its tenant's backlog again until its next final
-- transition (finalize), once. A redrive is not refused by the tenant's MaxQueuedJobs.
if redis.call('HSETNX', job, 'quotaQueued', '1') == 1 then
  redis.call('HINCRBY', prefixOf(job) .. ':tenant:' .. (f[7] or 'default') .. ':queued', 'jobs', 1)
end
emitStatus(job, 'queued', attempts, now)
return {'redriven'}
