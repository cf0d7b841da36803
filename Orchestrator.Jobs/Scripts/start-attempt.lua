--[[
  start-attempt: record an attempt durably before the LLM is called, so a crash during the call
  still counts it (the attempt count is never reset). claim.lua does the same for a job that may
  start at once (its ARGV[4]); this script starts the attempts after that, and the first one of a
  job claimed while waiting for its retry time or by a draining worker.

  KEYS[1]  job hash            KEYS[2]  job history list (earlier jobs: includes/job.lua [history])
  ARGV[1]  lease token
  ARGV[2]  the attempt to start (the job's attempts + 1 as the caller knows them)
  ARGV[3]  '1' when the caller runs this attempt alone (nothing else in its process): recorded
           as aloneAttempt, so that a crash during it counts as the job's (see claim.lua)
  ARGV[4]  tenants' policies, JSON {tenant: [weight, maxConcurrency, tokensPerMinute]} ('' or {} = none);
           only maxConcurrency is read here; the worker sends its job's tenant's alone (decoding
           every tenant's cost ~0.5 µs a tenant a call)
  ARGV[5]  permit lease, ms (Worker:LeaseTimeout)

  A tenant with MaxConcurrency: the attempt starts only with one of its permits (includes/job.lua
  [tenant permits]); with none free nothing is written and the caller waits and asks again.

  Re-sent: the call is identified by its lease token and attempt. One that already applied (the
  job is 'processing' that attempt under that lease) answers {'ok', attempt} again, changing nothing.

  Returns  {'ok', attempt}       the number of the attempt now running
         | {'lost'}              the caller no longer holds the lease
         | {'exhausted'}         no attempt left (the caller dead-letters the job)
         | {'held'}              the tenant's permits are all taken: not started, nothing written
         | {'unexpected', status}

  Times (updatedAt, firstAttemptAt, startedAt) are Redis's own (TIME).
]]
--@include clock
--@include job

-- The previous attempt's history entry is read as the caller counts attempts (it is checked below).
local previous = tonumber(ARGV[2]) - 1
local job = redis.call('HMGET', KEYS[1], 'lease', 'status', 'attempts', 'maxAttempts', 'sharedLosses', 'tenant', 'id', 'listHistory',
  'firstAttemptAt', attemptField(previous), 'releasedAttempts')
if job[1] ~= ARGV[1] then
  return {'lost'}
end
local attempts = tonumber(job[3] or '0')
if job[2] == 'processing' and attempts == tonumber(ARGV[2]) then
  return {'ok', attempts}
end
if job[2] ~= 'queued' and job[2] ~= 'retrying' then
  return {'unexpected', job[2] or 'missing'}
end

local attempt = attempts + 1
-- Attempts lost beside other jobs (claim.lua) or cut off at a graceful shutdown (release.lua) are
-- not charged: the budget grows by them.
if attempt > tonumber(job[4]) + tonumber(job[5] or '0') + tonumber(job[11] or '0') then
  return {'exhausted'}
end

local limits = cjson.decode(ARGV[4] ~= '' and ARGV[4] or '{}')
if not takePermit(KEYS[1], job[7] or jobIdOf(KEYS[1]), job[6], limitOf(limits, job[6]), tonumber(ARGV[5])) then
  return {'held'}
end

local now = nowMs()
-- One write for all the attempt changes.
local writes = {'status', 'processing', 'attempts', attempt, 'updatedAt', now, attemptField(attempt), openAttempt(attempt, now)}
local function put(field, value)
  writes[#writes + 1] = field
  writes[#writes + 1] = value
end
if not job[9] then
  put('firstAttemptAt', now)
end
if ARGV[3] == '1' then
  put('aloneAttempt', attempt)
end
if attempts > 0 and not job[8] and not (attempts == previous and job[10] or redis.call('HGET', KEYS[1], attemptField(attempts))) then
  -- Its earlier attempts started before the history moved into the hash: they are in the list.
  put('listHistory', '1')
end
redis.call('HSET', KEYS[1], unpack(writes))
redis.call('HDEL', KEYS[1], 'nextAttemptAt')
emitStatus(KEYS[1], 'processing', attempt, now)
return {'ok', attempt}
