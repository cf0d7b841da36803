-- The claim of stream entries (claim.lua, and dispatch.lua when it claims what it dispatched),
-- written once. Included after `job`. A claim makes the caller the job's lease holder under a new
-- token and, with startNow, starts the next attempt when the job may start now; see claim.lua for
-- the rules (suspects, crashes, the attempt and delivery budgets) and the replies.
--
-- entries: {{job hash key, history key, entry id, lease token}, …}; limits: the tenants' policies
-- (decoded ARGV, {tenant: [weight, maxConcurrency, tokensPerMinute]}), only maxConcurrency read.
-- One acknowledgement and one count of each tenant's backlog for the whole call (batchWrites).
local function claimEntries(stream, group, consumer, deadLetters, now, startNow, maxCrashes, limits, entries)
  -- The job's fields and values (HGETALL shape) in one string, separated by byte 255, which the UTF-8
  -- text the job hash holds never contains: one bulk reply per job instead of two per field, whose
  -- reading was a fifth of the worker's allocations (JobParser.ParsePacked splits it).
  local function okReply(started, flat)
    return {'ok', started, table.concat(flat, '\255')}
  end

  local function hashReply(job, started)
    return okReply(started, redis.call('HGETALL', job))
  end

  -- A job the claim made final (dead-lettered or canceled), as it now is: its worker logs and
  -- measures it (attempts, createdAt, trace context, tenant). Rare, so read again rather than assembled.
  local function finalReply(job, kind, lost)
    local hash = redis.call('HGETALL', job)
    if lost then
      hash[#hash + 1] = 'lostAttempt'
      hash[#hash + 1] = lost
    end
    return {kind, 0, table.concat(hash, '\255')}
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
      if f.claimReply == 'dead-lettered' or f.claimReply == 'canceled' then return finalReply(job, f.claimReply) end
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
    -- Attempts cut off at a graceful shutdown (release.lua): recorded, not charged either.
    local releasedAttempts = tonumber(f.releasedAttempts or '0') + 0
    if status ~= 'queued' and status ~= 'retrying' and status ~= 'processing' then
      error('unknown status ' .. tostring(status))
    end
    -- The last attempt's entry as the hash holds it; none there (with attempts) means it is in the list.
    local lastInHash = f[attemptField(f.attempts or '0')]
    local lostEntry, lostListed
    if status == 'processing' then
      local last
      last, lostListed = readAttempt(history, attempts, lastInHash)
      if last then lostEntry = cjson.decode(last) end
    end
    local lastError = f.error and f.error ~= '' and cjson.decode(f.error) or nil

    -- The fields this claim sets.
    local writes = {'deliveries', string.format('%d', deliveries), 'lease', token, 'leaseOwner', consumer, 'entryId', entryId, 'lastClaim', token}
    local function put(...)
      for _, v in ipairs({...}) do writes[#writes + 1] = v end
    end
    if attempts > 0 and not lastInHash and not f.listHistory then
      -- Its last attempt started before the history moved into the hash: its entries are in the list.
      put('listHistory', '1')
    end

    local nextAttemptAt = f.nextAttemptAt
    local lastAttemptLost = false
    -- '<attempt>:<startedAt>:<endedAt>' of the attempt this claim closes, for the reply only.
    local lost = nil
    if status == 'processing' then
      -- The previous holder died or lost its lease mid-attempt. That attempt counts: close it as lost.
      if lostEntry and lostEntry.outcome == nil then
        lost = string.format('%d:%d:%s', attempts, tonumber(lostEntry.startedAt) or 0, now)
        lostEntry.endedAt = tonumber(now)
        lostEntry.outcome = 'worker-lost'
        lostEntry.error = {type = 'worker-lost', message = 'The worker running this attempt stopped before recording an outcome.'}
        if lostListed then
          redis.call('LSET', history, attempts - 1, cjson.encode(lostEntry))
        else
          put(attemptField(attempts), cjson.encode(lostEntry))
        end
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
      put('status', 'canceled', 'completedAt', now, 'updatedAt', now, 'claimReply', 'canceled')
      redis.call('HSET', job, unpack(writes))
      redis.call('HDEL', job, 'lease', 'leaseOwner', 'nextAttemptAt', 'handedBack')
      finalize(stream, group, deadLetters, job, history, f.id or jobIdOf(job), entryId, f.retentionMs, false, now, f.tenant)
      return finalReply(job, 'canceled', lost)
    end

    local deadError
    local budget = maxAttempts + sharedLosses + releasedAttempts
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
      redis.call('HDEL', job, 'lease', 'leaseOwner', 'nextAttemptAt', 'handedBack')
      finalize(stream, group, deadLetters, job, history, f.id or jobIdOf(job), entryId, f.retentionMs, true, now, f.tenant)
      return finalReply(job, 'dead-lettered', lost)
    end

    local started = 0
    -- A suspect is only claimed: its worker starts it once it runs nothing else.
    if startNow and not f.suspect and not lastAttemptLost and (status == 'queued' or status == 'retrying')
        and tonumber(nextAttemptAt or '0') <= tonumber(now) and attempts < budget and limitOf(limits, f.tenant) <= 0 then
      -- As start-attempt.lua: the attempt counts from here, even if the worker dies before the call.
      started = attempts + 1
    end
    -- Numbers go to Redis and into the reply as text made once: Redis formats a Lua number it is
    -- given with snprintf("%.17g") (~0.4 µs each), Lua's own conversion costs ~0.2 µs.
    local startedText = string.format('%d', started)
    if started > 0 then
      put('status', 'processing', 'attempts', startedText, 'updatedAt', now, attemptField(startedText), openAttempt(started, now))
      if not f.firstAttemptAt then put('firstAttemptAt', now) end
    end
    put('claimReply', startedText)
    redis.call('HSET', job, unpack(writes))
    if f.handedBack then
      -- Read once: the reply below carries it (a hand-back, not a lapsed lease); later claims do not.
      redis.call('HDEL', job, 'handedBack')
    end
    if started > 0 then
      if nextAttemptAt then redis.call('HDEL', job, 'nextAttemptAt') end
      emitStatus(job, 'processing', startedText, now)
    elseif lastAttemptLost then
      emitStatus(job, 'retrying', attempts, now)
    end
    -- The job as this claim left it, without reading it again: the hash as read, then the fields
    -- written (a field twice: the later value wins, see JobParser), less nextAttemptAt when deleted
    -- (handedBack, deleted above, is kept: it tells the worker the job was handed back).
    local flat = {}
    for i = 1, #hash, 2 do
      if not (started > 0 and hash[i] == 'nextAttemptAt') then
        flat[#flat + 1] = hash[i]
        flat[#flat + 1] = hash[i + 1]
      end
    end
    for i = 1, #writes do flat[#flat + 1] = writes[i] end
    if lost then
      -- Reply only, not stored: this claim closed that attempt as worker-lost, so this worker records
      -- its span and counts it (its own worker died with it, or learns of the loss only if it lives on).
      flat[#flat + 1] = 'lostAttempt'
      flat[#flat + 1] = lost
    end
    return okReply(started, flat)
  end

  batchWrites(stream, group, now)
  local replies = {}
  for i, e in ipairs(entries) do
    local job, history, entryId, token = e[1], e[2], e[3], e[4]
    replies[i] = isolated(stream, group, deadLetters, job, history, entryId, now, claim, job, history, entryId, token)
    if replies[i][1] == 'corrupt' and redis.call('TYPE', job).ok == 'hash' then
      -- Remembered, so that this claim sent again answers the same.
      redis.call('HSET', job, 'lastClaim', token, 'claimReply', 'corrupt')
    end
  end
  flushBatch()
  return replies
end
