--[[
  claim: a worker takes delivered (or reclaimed) stream entries, any number in one call, and
  becomes each job's lease holder. A new random lease token fences out any earlier holder: every
  later write checks it. One call for a whole XREADGROUP batch keeps Redis work and round trips
  per job low; each job is claimed exactly as it would be alone, and a job that cannot be claimed
  (a value that does not parse, a step that fails) is set aside without touching the others.

  KEYS[1]  jobs stream         KEYS[2]  dead-letter sorted set (all tenants); the tenant's own
                               set is KEYS[2] .. ':' .. tenant (same hash tag), written beside it
  KEYS[1 + 2i], KEYS[2 + 2i]   job i's hash and history list (i = 1 … n)

  ARGV[1]  consumer group      ARGV[2]  consumer name
  ARGV[3]  '1' to start the next attempt too, when the job may start now; '' claim only
  ARGV[4]  max crashes (Worker:MaxCrashes): crashes while running alone before 'poison-job'
  ARGV[5]  tenants' policies, JSON {tenant: [weight, maxConcurrency, tokensPerMinute]} ('' or {} = none);
           only maxConcurrency is read here
  ARGV[4 + 2i], ARGV[5 + 2i]   job i's stream entry id and new lease token

  Times (nextAttemptAt, startedAt, …) are Redis's own (TIME), not the caller's.

  The attempt budget is the job's own maxAttempts, fixed when it was submitted. Starting here does
  what start-attempt.lua does, in the same round trip: the attempt is recorded durably before the
  LLM is called. It starts only a job that is queued or retrying, due (nextAttemptAt ≤ now) and
  has an attempt left; a job waiting for a retry is only claimed, and its caller waits and calls
  start-attempt.lua itself. A draining worker passes '' (it must not start work it would hand back).
  A job whose tenant has a MaxConcurrency is only claimed too: its attempt starts with a permit
  (includes/job.lua [tenant permits]) in start-attempt.lua, which its worker calls once the job
  may run there (after SoloGate). So a permit is only ever held by an attempt that is running,
  never by one waiting behind a suspect in its worker, which could wait for that very permit.

  Poison isolation (docs/design/job-store.md): a job found 'processing' lost its worker
  mid-attempt. It becomes a suspect: this claim does not start it, and its worker runs it apart
  from ordinary jobs: suspect = 1 (its lost attempt ran beside ordinary jobs) in a group with the
  other such suspects it holds, suspect = 2 (lost in a group of suspects, or alone) alone
  (start-attempt.lua records aloneAttempt). If the lost attempt ran alone, the crash was the job's:
  crashes + 1, and at max crashes it is dead-lettered as 'poison-job'. If it ran beside other jobs,
  nobody can tell whose crash it was: the attempt stays in the history as worker-lost but is not
  charged to the job's budget (sharedLosses + 1; the budget is maxAttempts + sharedLosses attempts,
  and the delivery cap, for jobs that are not suspects, maxAttempts + sharedLosses deliveries).

  Re-sent: the claim is identified by its lease token. A call that already applied (its reply was
  lost) finds its token in lastClaim, with claimReply ('dead-lettered', 'corrupt' or the attempt
  it started), and answers as it did, changing nothing.

  Returns one reply per job, in order:
           {'missing'}        job expired or never existed; entry acknowledged
         | {'terminal'}       job already final; entry acknowledged (a late duplicate delivery)
         | {'dead-lettered'}  attempts or deliveries exhausted; job failed and dead-lettered
         | {'corrupt', why}   job set aside: failed, dead-lettered with error type 'corrupt'
         | {'ok', started, field, value, …}  started: the number of the attempt this claim started,
                              or 0 when none; then the job hash as this claim left it (HGETALL shape)
]]
local stream, deadLetters = KEYS[1], KEYS[2]
--@include clock
--@include job

local group, consumer, now = ARGV[1], ARGV[2], nowMs()
local startNow = ARGV[3] == '1'
local maxCrashes = tonumber(ARGV[4])
local limits = cjson.decode(ARGV[5] ~= '' and ARGV[5] or '{}')
-- One acknowledgement and one count of each tenant's backlog for the whole call (includes/job.lua).
batchWrites(stream, group, now)

local function hashReply(job, started)
  local reply = {'ok', started}
  local hash = redis.call('HGETALL', job)
  for i = 1, #hash do reply[i + 2] = hash[i] end
  return reply
end

local function claim(job, history, entryId, token)
  local hash = redis.call('HGETALL', job)
  if #hash == 0 then
    ack(stream, group, entryId)
    return {'missing'}
  end
  local f = {}
  for i = 1, #hash, 2 do f[hash[i]] = hash[i + 1] end

  if f.lastClaim == token then
    -- This very claim applied already; its reply was lost.
    if f.claimReply == 'dead-lettered' then return {'dead-lettered'} end
    if f.claimReply == 'corrupt' then return {'corrupt', cjson.decode(f.error).message} end
    if f.claimReply == 'terminal' then return {'terminal'} end
    return hashReply(job, tonumber(f.claimReply))
  end

  local status = f.status
  if status == 'completed' or status == 'failed' or status == 'canceled' then
    ack(stream, group, entryId)
    return {'terminal'}
  end

  -- Everything is read and checked before the first write: a job that fails here is set aside unchanged.
  local deliveries = tonumber(f.deliveries or '0') + 1
  local attempts = tonumber(f.attempts or '0') + 0
  local maxAttempts = tonumber(f.maxAttempts) + 0
  local crashes = tonumber(f.crashes or '0') + 0
  local sharedLosses = tonumber(f.sharedLosses or '0') + 0
  if status ~= 'queued' and status ~= 'retrying' and status ~= 'processing' then
    error('unknown status ' .. tostring(status))
  end
  local lostEntry
  if status == 'processing' then
    local last = redis.call('LINDEX', history, -1)
    if last then lostEntry = cjson.decode(last) end
  end
  local lastError = f.error and f.error ~= '' and cjson.decode(f.error) or nil

  -- The fields this claim sets.
  local writes = {'deliveries', deliveries, 'lease', token, 'leaseOwner', consumer, 'entryId', entryId, 'lastClaim', token}
  local function put(...)
    for _, v in ipairs({...}) do writes[#writes + 1] = v end
  end

  local nextAttemptAt = f.nextAttemptAt
  local lastAttemptLost = false
  if status == 'processing' then
    -- The previous holder died or lost its lease mid-attempt. That attempt counts: close it as lost.
    if lostEntry and lostEntry.outcome == nil then
      lostEntry.endedAt = tonumber(now)
      lostEntry.outcome = 'worker-lost'
      lostEntry.error = {type = 'worker-lost', message = 'The worker running this attempt stopped before recording an outcome.'}
      redis.call('LSET', history, -1, cjson.encode(lostEntry))
    end
    -- Lost beside ordinary jobs: next in a group of suspects (1); lost in such a group or alone: alone (2).
    local suspect = f.suspect and '2' or '1'
    if f.aloneAttempt == tostring(attempts) then
      crashes = crashes + 1
      suspect = '2'
    else
      sharedLosses = sharedLosses + 1
    end
    put('status', 'retrying', 'nextAttemptAt', now, 'updatedAt', now, 'suspect', suspect, 'crashes', crashes, 'sharedLosses', sharedLosses,
      'error', cjson.encode({type = 'worker-lost', message = 'The worker running attempt ' .. attempts .. ' stopped before recording an outcome.'}))
    status = 'retrying'
    nextAttemptAt = now
    lastAttemptLost = true
    -- The lost attempt's tenant permit (if it has not lapsed yet) goes back now.
    returnPermit(job, f.id or jobIdOf(job), f.tenant)
  end

  if f.cancelRequested == '1' then
    -- Canceled while its worker was lost (cancel.lua flags a processing job): no further attempt.
    put('status', 'canceled', 'completedAt', now, 'updatedAt', now, 'claimReply', 'terminal')
    redis.call('HSET', job, unpack(writes))
    redis.call('HDEL', job, 'lease', 'leaseOwner', 'nextAttemptAt')
    finalize(stream, group, deadLetters, job, history, f.id or jobIdOf(job), entryId, f.retentionMs, false, now, f.tenant)
    return {'terminal'}
  end

  local deadError
  local budget = maxAttempts + sharedLosses
  if crashes >= maxCrashes then
    deadError = {type = 'poison-job', message = 'Crashed its worker ' .. crashes .. ' times while running alone; a job that keeps stopping its worker is dead-lettered.'}
  elseif attempts >= budget then
    deadError = {type = 'attempts-exhausted', message = 'All ' .. maxAttempts .. ' attempts were used; the last one did not finish.'}
    -- A job whose last attempt finished keeps that attempt's error; one whose last attempt was lost
    -- with its worker says that its attempts are used up (the attempt itself is marked worker-lost).
    if lastError and not lastAttemptLost then deadError = lastError end
  elseif deliveries > budget and not f.suspect and not lastAttemptLost then
    -- The delivery cap catches a job that stops its worker before its attempt starts. A suspect is
    -- bounded by max crashes instead: waiting for its turn in a worker that another job crashed is
    -- not its doing.
    deadError = {type = 'poison-job', message = 'Delivered ' .. deliveries .. ' times without finishing; a job that keeps stopping its worker is dead-lettered.'}
  end

  if deadError then
    put('status', 'failed', 'error', cjson.encode(deadError), 'completedAt', now, 'updatedAt', now, 'claimReply', 'dead-lettered')
    redis.call('HSET', job, unpack(writes))
    redis.call('HDEL', job, 'lease', 'leaseOwner', 'nextAttemptAt')
    finalize(stream, group, deadLetters, job, history, f.id or jobIdOf(job), entryId, f.retentionMs, true, now, f.tenant)
    return {'dead-lettered'}
  end

  local started = 0
  -- A suspect is only claimed: its worker starts it once it runs nothing else.
  if startNow and not f.suspect and not lastAttemptLost and (status == 'queued' or status == 'retrying')
      and tonumber(nextAttemptAt or '0') <= tonumber(now) and attempts < budget and limitOf(limits, f.tenant) <= 0 then
    -- As start-attempt.lua: the attempt counts from here, even if the worker dies before the call.
    started = attempts + 1
    put('status', 'processing', 'attempts', started, 'updatedAt', now)
    if not f.firstAttemptAt then put('firstAttemptAt', now) end
  end
  put('claimReply', started)
  redis.call('HSET', job, unpack(writes))
  if started > 0 then
    if nextAttemptAt then redis.call('HDEL', job, 'nextAttemptAt') end
    -- Written in one shape (finish-attempt.lua closes an entry of this shape without parsing it).
    redis.call('RPUSH', history, string.format('{"attempt":%d,"startedAt":%s}', started, now))
    emitStatus(job, 'processing', started, now)
  elseif lastAttemptLost then
    emitStatus(job, 'retrying', attempts, now)
  end
  -- The job as this claim left it, without reading it again: the hash as read, then the fields
  -- written (a field twice: the later value wins, see JobParser), less the one deleted.
  local reply = {'ok', started}
  for i = 1, #hash, 2 do
    if not (started > 0 and hash[i] == 'nextAttemptAt') then
      reply[#reply + 1] = hash[i]
      reply[#reply + 1] = hash[i + 1]
    end
  end
  for i = 1, #writes do reply[#reply + 1] = writes[i] end
  return reply
end

local replies = {}
for i = 1, (#KEYS - 2) / 2 do
  local job, history, entryId = KEYS[1 + 2 * i], KEYS[2 + 2 * i], ARGV[4 + 2 * i]
  local token = ARGV[5 + 2 * i]
  replies[i] = isolated(stream, group, deadLetters, job, history, entryId, now, claim, job, history, entryId, token)
  if replies[i][1] == 'corrupt' and redis.call('TYPE', job).ok == 'hash' then
    -- Remembered, so that this claim sent again answers the same.
    redis.call('HSET', job, 'lastClaim', token, 'claimReply', 'corrupt')
  end
end
flushBatch()
return replies
