-- Fragments the job scripts share, pasted where a script says `--@include job` when the scripts
-- are loaded (LuaScripts.cs), as BullMQ's includes/ are: one copy of the finishing logic.

-- The job id of a job hash key '<prefix>:job:<id>'.
local function jobIdOf(jobKey)
  return string.match(jobKey, ':job:([^:]+)$')
end

-- [history] Attempt n's entry is the job hash's field 'attempt:<n>' (JSON {"attempt":n,"startedAt":…}
-- when it starts, closed with endedAt, outcome, …): written in the transition's own HSET, read in its
-- HMGET, expiring with the hash. Jobs whose attempts started before the history moved into the hash
-- keep those entries in the list '<job>:attempts' (entry n at index n - 1): they are read and
-- closed there, and the job is flagged 'listHistory' so that the list expires and persists with it.
local function attemptField(n)
  return 'attempt:' .. n
end

-- An attempt's entry as it starts (finish-attempt.lua closes this shape without parsing it).
local function openAttempt(n, now)
  return string.format('{"attempt":%d,"startedAt":%s}', n, now)
end

-- Attempt n's entry: the hash field's value the caller read, else the list's entry (or false);
-- second value: whether it is in the list.
local function readAttempt(history, n, fromHash)
  if fromHash then
    return fromHash, false
  end
  local listed = redis.call('LINDEX', history, n - 1)
  return listed, listed ~= false
end

-- Job events (issue 19): each job's events are a list, '<job key>:eventlog' (same hash tag, so the
-- same slot), and every event is announced on one channel, '<prefix>:events', with the message
-- '<job id> <type>'. The API holds one subscription to it and reads the job's list when told
-- (read-events.lua); the list is the record (ids, resumption), the message only a wake-up. An event
-- is one element, '<type> <values>': 'status <status> <attempt> <at>', 'delta <attempt> <text>' (the
-- text is all the rest) or 'done <status>'. Event n (n = 1, 2, …) is its SSE id: at most
-- EVENTS_MAXLEN are kept (the oldest go first, counted in the job hash's 'eventsDropped'; the last
-- one, 'done', stays), so event n is the list's element n - eventsDropped - 1. The list expires with
-- the job (finalize). A list, not a stream: Redis gives a new stream's first node 4 KB at once
-- (stream-node-max-bytes), kept until the node fills, so a job's handful of events held ~4.7 KB of
-- memory for the whole retention; a list holds them in a few hundred bytes.
-- Jobs whose events began before keep them in a stream, '<job key>:events': read-events.lua reads it
-- first, and finalize and redrive expire and persist it with the job.
local EVENTS_MAXLEN = 1000

local function eventsOf(job)
  return job .. ':eventlog'
end

local function legacyEventsOf(job)
  return job .. ':events'
end

-- An event appended without its announcement: for one the same script announces another event
-- of the same job right after (finalize's status before 'done'). A listener told of the later one
-- reads the list and finds both: a script's writes are all visible before any reader runs.
local function appendEvent(job, event)
  local length = redis.call('RPUSH', eventsOf(job), event)
  if length > EVENTS_MAXLEN then
    redis.call('LPOP', eventsOf(job), length - EVENTS_MAXLEN)
    redis.call('HINCRBY', job, 'eventsDropped', length - EVENTS_MAXLEN)
  end
end

-- Publishes a wake-up. A refused one (the ACL user's channel rights taken away while it runs: Redis
-- 7.0 raises it inside the script) must not end the script half-way: its writes so far are not rolled
-- back, and the error read as the job's own set 60 running jobs aside as corrupt (an outside audit).
-- A wake-up only hurries readers, who read the lists and sets themselves.
local function announce(channel, message)
  pcall(redis.call, 'PUBLISH', channel, message)
end

local function emit(job, kind, event)
  appendEvent(job, event)
  announce(string.match(job, '^(.*):job:[^:]+$') .. ':events', jobIdOf(job) .. ' ' .. kind)
end

-- A status transition, as the 'status' event clients see; attempt is the job's attempt count.
-- quiet: appended but not announced (see appendEvent).
local function emitStatus(job, status, attempt, now, quiet)
  local event = 'status ' .. tostring(status) .. ' ' .. tostring(attempt or 0) .. ' ' .. tostring(now)
  if quiet then
    appendEvent(job, event)
  else
    emit(job, 'status', event)
  end
end

-- Text the provider streamed during attempt `attempt`.
local function emitDelta(job, attempt, text)
  emit(job, 'delta', 'delta ' .. tostring(attempt) .. ' ' .. text)
end

-- Writes a batch script gathers and makes once at the end of the call (flushBatch), instead of
-- once per job: the stream acknowledgements (one XACK and one XDEL for all its entries) and each
-- tenant's backlog count (see leaveBacklog). Nothing in a script reads them back, and a script
-- that stops on a server error flushes first (isolated): a job made final is never left counted.
-- An entry still pending because a call stopped anyway is no harm: its job is final, and the claim
-- that reclaims it acknowledges it ('terminal'). nil when the script writes each one at once.
local batch = nil

local function batchWrites(stream, group, now)
  batch = {stream = stream, group = group, now = now, acks = {}, backlogs = {}, tenants = {}}
end

-- The stream entry is done with: acknowledge and delete it so the stream stays short. A job in the
-- delayed set has no entry (entryId nil or ''): nothing to do.
local function ack(stream, group, entryId)
  if entryId == nil or entryId == '' then
    return
  end
  if batch and batch.stream == stream and batch.group == group then
    batch.acks[#batch.acks + 1] = entryId
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
  redis.call('HINCRBY', job, 'deliveries', '-1')
  local dueText = string.format('%d', due)
  redis.call('HSET', job, 'nextAttemptAt', dueText)
  redis.call('ZADD', delayed, dueText, jobId)
end

-- Webhooks (issue 19): a job with a callbackUrl gets one delivery per final transition, enqueued
-- here, in the transition's own script, so that no final state goes without its delivery and a
-- re-sent transition (answered from lastFinish/lastClaim, never reaching finalize) adds none. The
-- delivery id '<jobId>.<n>' (n counts the job's deliveries) is the webhook-id of every retry. The
-- record holds all the payload is built from, so each retry sends the same body. Keys derive from
-- the job key's prefix (same hash tag, same slot). See docs/design/job-store.md, Webhooks.
-- f: the job's callbackUrl, status, completedAt and error, as finalize read them, and its tenant
-- (nil: 'default'), by which workers share out their sending slots.
local function enqueueWebhook(job, jobId, now, retention, f)
  if not f[1] or f[1] == '' then
    return
  end
  local prefix = string.match(job, '^(.*):job:[^:]+$')
  local deliveryId = jobId .. '.' .. redis.call('HINCRBY', job, 'webhooks', 1)
  local record = prefix .. ':webhook:' .. deliveryId
  redis.call('HSET', record, 'jobId', jobId, 'url', f[1], 'type', 'job.' .. f[2], 'jobStatus', f[2],
    'completedAt', f[3] or now, 'error', f[4] or '', 'createdAt', now, 'status', 'pending', 'attempts', 0,
    'tenant', f[5] or 'default')
  -- The submission's trace context: each try's span is its child, so the receiver's work joins the job's trace.
  local trace = redis.call('HMGET', job, 'traceparent', 'tracestate')
  if trace[1] then
    redis.call('HSET', record, 'traceparent', trace[1], 'tracestate', trace[2] or '')
  end
  if retention > 0 then
    redis.call('PEXPIRE', record, retention)
  end
  redis.call('ZADD', prefix .. ':webhooks', now, deliveryId)
end

-- Each webhook delivery's record and tries of a job ('<prefix>:webhook:<jobId>.<n>', n up to the
-- job's 'webhooks' count) kept for good (a job redriven: not final, so not expiring), or (ttl) set to
-- expire with the job again at its next final transition.
local function expireWebhooks(job, jobId, ttl)
  local count = tonumber(redis.call('HGET', job, 'webhooks') or '0') or 0
  local prefix = string.match(job, '^(.*):job:[^:]+$') .. ':webhook:' .. jobId .. '.'
  for n = 1, count do
    local record = prefix .. n
    if ttl then
      redis.call('PEXPIRE', record, ttl)
      redis.call('PEXPIRE', record .. ':attempts', ttl)
    else
      redis.call('PERSIST', record)
      redis.call('PERSIST', record .. ':attempts')
    end
  end
end

local function persistWebhooks(job, jobId)
  expireWebhooks(job, jobId, nil)
end

-- The key prefix of a job hash key '<prefix>:job:<id>' (the hash tag included).
local function prefixOf(jobKey)
  return string.match(jobKey, '^(.*):job:[^:]+$')
end

-- [tenant quotas] `count` final transitions of the tenant's jobs at `now` (Unix ms) come off its
-- backlog (never below zero), and the tenant's interval between final transitions (an average,
-- each interval capped at a minute) is kept for the Retry-After of a submission refused by
-- MaxQueuedJobs: as `count` single steps would leave it (the later ones with an interval of 0), in
-- one read and one write.
local function countFinals(backlog, count, now)
  local seen = redis.call('HMGET', backlog, 'jobs', 'lastFinalAt', 'finalEveryMs')
  local last, average = tonumber(seen[2]), tonumber(seen[3])
  now = tonumber(now)
  for _ = 1, count do
    if last then
      local interval = math.min(60000, math.max(0, now - last))
      average = math.max(1, math.floor(average and (0.8 * average + 0.2 * interval) or interval))
    end
    last = now
  end
  local writes = {'jobs', math.max(0, (tonumber(seen[1]) or 0) - count), 'lastFinalAt', now}
  if average then
    writes[5], writes[6] = 'finalEveryMs', string.format('%d', average)
  end
  redis.call('HSET', backlog, unpack(writes))
end

-- A job counted in its tenant's backlog (submit.lua set quotaQueued) leaves it: exactly once,
-- however often a final transition is re-sent or whichever path gets there first, because only
-- the call that removes the flag counts it. removed: the caller deleted quotaQueued itself and
-- says whether it was there (else it is deleted here). A batch script counts at its end.
local function leaveBacklog(job, tenant, now, isHash, removed)
  if removed == nil then
    removed = isHash and redis.call('HDEL', job, 'quotaQueued') == 1
  end
  if not removed then
    return
  end
  local backlog = prefixOf(job) .. ':tenant:' .. (tenant or 'default') .. ':queued'
  if batch then
    if not batch.backlogs[backlog] then
      batch.tenants[#batch.tenants + 1] = backlog
    end
    batch.backlogs[backlog] = (batch.backlogs[backlog] or 0) + 1
    return
  end
  countFinals(backlog, 1, now)
end

-- The batch's gathered writes (batchWrites), once; the batch ends here.
local function flushBatch()
  local b = batch
  batch = nil
  if not b then
    return
  end
  -- In chunks: unpack's arguments are bounded by Lua's stack.
  for i = 1, #b.acks, 1000 do
    local ids = {unpack(b.acks, i, math.min(#b.acks, i + 999))}
    redis.call('XACK', b.stream, b.group, unpack(ids))
    redis.call('XDEL', b.stream, unpack(ids))
  end
  for _, backlog in ipairs(b.tenants) do
    countFinals(backlog, b.backlogs[backlog], b.now)
  end
end

-- [tenant permits] Tenants:{t}:MaxConcurrency: a tenant's jobs running an attempt hold one permit
-- each, a member (the job id) of '<prefix>:tenant:<t>:permits' scored by lease expiry on Redis's
-- clock (TIME), as the deployments' permits are. Reserved when dispatch.lua delivers the job and
-- taken by start-attempt.lua, which moves it to 'processing' (a limited tenant's job is never
-- started by its claim), renewed with the job's lease (renew.lua, for as long
-- as the job's 'permit' field holds the lease, ms), returned by every script that ends the attempt
-- (finish-attempt.lua, a claim that finds the worker lost, finalize). A dead worker's permits lapse
-- with its leases. The member being the job id makes taking and returning idempotent.
local function permitsOf(job, tenant)
  return prefixOf(job) .. ':tenant:' .. (tenant or 'default') .. ':permits'
end

local function permitClock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Takes a permit for the job when its tenant has a limit (limit > 0); true when it may run.
local function takePermit(job, jobId, tenant, limit, leaseMs)
  if not limit or limit <= 0 then
    return true
  end
  local permits, now = permitsOf(job, tenant), permitClock()
  redis.call('ZREMRANGEBYSCORE', permits, '-inf', now)
  if not redis.call('ZSCORE', permits, jobId) and redis.call('ZCARD', permits) >= limit then
    return false
  end
  redis.call('ZADD', permits, now + leaseMs, jobId)
  redis.call('PEXPIRE', permits, leaseMs * 2)
  redis.call('HSET', job, 'permit', leaseMs)
  return true
end

-- Makes a tenant that dispatch.lua parked (<prefix>:tenants:held) due at once, so the next dispatch
-- looks at it again: a permit came back, or a cancel emptied its ready sets. True when it was
-- parked and not due already.
local function parkedDue(prefix, tenant)
  return redis.call('ZADD', prefix .. ':tenants:held', 'XX', 'CH', '0', tenant) == 1
end

-- Returns the job's permit if it holds one (once: only the call that removes 'permit' gives it back).
-- A tenant with ready work waiting for that permit (dispatch.lua held it back, or parked it) is announced to the
-- idle workers, as includes/ready.lua announces a tenant that becomes active. isHash: whether the
-- job's key is a hash, when the caller knows (else it is looked up). removed: the caller deleted
-- 'permit' itself and says whether it was there (else it is deleted here).
local function returnPermit(job, jobId, tenant, isHash, removed)
  if removed == nil then
    if isHash == nil then
      isHash = redis.call('TYPE', job).ok == 'hash'
    end
    removed = isHash and redis.call('HDEL', job, 'permit') == 1
  end
  if removed then
    redis.call('ZREM', permitsOf(job, tenant), jobId)
    local prefix, name = prefixOf(job), tenant or 'default'
    if parkedDue(prefix, name) or redis.call('ZSCORE', prefix .. ':tenants', name) then
      announce(prefix .. ':ready', name)
    end
  end
end

-- A job's concurrency limit from the tenants' policies, the JSON object
-- {tenant: [weight, maxConcurrency, tokensPerMinute]} dispatch.lua reads too (0 or absent = none).
local function limitOf(policies, tenant)
  local policy = policies[tenant or 'default']
  return policy and tonumber(policy[2]) or 0
end

-- Drops a dead-letter set's oldest members whose job has expired, at most 10, up to the first kept.
-- Not by score (older than this job's retention): jobs stored by APIs with another Api:JobRetention
-- expire at other times, and one dead letter with 5 s of retention emptied the global set of every
-- tenant's week-long ones, still kept (an outside audit).
local function dropExpiredDeadLetters(set, jobPrefix)
  for _, id in ipairs(redis.call('ZRANGE', set, 0, 9)) do
    if redis.call('EXISTS', jobPrefix .. id) == 1 then
      return
    end
    redis.call('ZREM', set, id)
  end
end

-- A job reached a final state. Its entry is done with; it expires after its retention (ms, 0 =
-- kept); a failed job joins the dead letters, the global set and its tenant's own
-- (deadLetters .. ':' .. tenant, same hash tag; a job stored before tenants existed belongs to
-- 'default'), from which expired jobs are dropped, oldest first. Every path that dead-letters a
-- job comes here, so every one prunes. A job with a callbackUrl gets its webhook delivery here.
-- Its final status (already in the hash) and then 'done' are its last events.
-- known: what the caller already read and deleted, for a job it knows is a hash ({status,
-- attempts, callbackUrl, completedAt, error, queued = quotaQueued was deleted, permit = permit
-- was deleted, listHistory = some of its history is in the list}); nil: the job is looked at here
-- (and its history list, if it has one, expires too: these paths are rare and a job they end may
-- never have been flagged).
local function finalize(stream, group, deadLetters, job, history, jobId, entryId, retentionMs, failed, now, tenant, known)
  ack(stream, group, entryId)
  local isHash = known ~= nil
  local listHistory = not known or known.listHistory
  if not known then
    -- The job is looked at once for all that follows (a job set aside may have no hash, or a key of
    -- another type); nothing below changes the fields read here.
    isHash = redis.call('TYPE', job).ok == 'hash'
    if isHash then
      local f = redis.call('HMGET', job, 'status', 'attempts', 'callbackUrl', 'completedAt', 'error')
      known = {status = f[1], attempts = f[2], callbackUrl = f[3], completedAt = f[4], error = f[5]}
    end
  end
  if isHash then
    leaveBacklog(job, tenant, now, true, known.queued)
    returnPermit(job, jobId, tenant, true, known.permit)
    -- One announcement, 'done', for both: it wakes every listener (a final-only one too).
    emitStatus(job, known.status, known.attempts, now, true)
    emit(job, 'done', 'done ' .. tostring(known.status))
  end
  local tenantDeadLetters = deadLetters .. ':' .. (tenant or 'default')
  if failed then
    redis.call('ZADD', deadLetters, now, jobId)
    redis.call('ZADD', tenantDeadLetters, now, jobId)
  end
  local retention = tonumber(retentionMs or '0') or 0
  if isHash then
    enqueueWebhook(job, jobId, now, retention, {known.callbackUrl, known.status, known.completedAt, known.error, tenant})
  end
  if retention > 0 then
    -- As text made once: Redis formats each Lua number it is given with snprintf (~0.4 µs).
    local ttl = string.format('%d', retention)
    redis.call('PEXPIRE', job, ttl)
    if listHistory then
      redis.call('PEXPIRE', history, ttl)
    end
    redis.call('PEXPIRE', eventsOf(job), ttl)
    redis.call('PEXPIRE', legacyEventsOf(job), ttl)
    if isHash and known.callbackUrl and known.callbackUrl ~= '' and redis.call('HEXISTS', job, 'redrives') == 1 then
      -- A redriven job's earlier deliveries were kept for good (redrive.lua): they go with the job again.
      expireWebhooks(job, jobId, ttl)
    end
    if failed then
      local jobPrefix = string.match(deadLetters, '^(.*):[^:]+$') .. ':job:'
      dropExpiredDeadLetters(deadLetters, jobPrefix)
      dropExpiredDeadLetters(tenantDeadLetters, jobPrefix)
      -- The tenant's set goes with the last of its members' jobs: without an expiry it kept its
      -- expired ids until its next dead letter, which might never come (workers prune the global set;
      -- a job gone does not say its tenant). Only lengthened (GT), so a job kept for less does not cut
      -- the others short; a set just made has no expiry to compare with.
      if redis.call('ZCARD', tenantDeadLetters) == 1 then
        redis.call('PEXPIRE', tenantDeadLetters, ttl)
      else
        redis.call('PEXPIRE', tenantDeadLetters, ttl, 'GT')
      end
    end
  elseif failed then
    -- Kept for good: so is its tenant's set.
    redis.call('PERSIST', tenantDeadLetters)
  end
end

-- What a job's own step raised, as text; nil when the error is the server's (OOM, READONLY,
-- BUSY, …), which must fail the whole call so that the caller sends it again. A job's own error is
-- a Lua runtime error on one of its values, a value that is not JSON, or a key of the wrong type.
local function jobError(e)
  if type(e) ~= 'table' then
    local text = tostring(e)
    -- An ACL refusal (a key or channel right taken away), raised as a string by Redis 7.0: the server's, retried.
    if string.find(text, "The user executing the script can't", 1, true) then
      return nil
    end
    return text
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
    flushBatch()
    error(reply)
  end
  return {'corrupt', setAside(stream, group, deadLetters, job, history, entryId, message, now)}
end
