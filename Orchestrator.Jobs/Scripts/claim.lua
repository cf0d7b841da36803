--[[
  claim: a worker takes delivered (or reclaimed) stream entries, any number in one call, and
  becomes each job's lease holder. A new random lease token fences out any earlier holder: every
  later write checks it. One call for a whole XREADGROUP batch keeps Redis work and round trips
  per job low; each job is claimed exactly as it would be alone.

  KEYS[1]  jobs stream         KEYS[2]  dead-letter sorted set (all tenants); the tenant's own
                               set is KEYS[2] .. ':' .. tenant (same hash tag), written beside it
  KEYS[1 + 2i], KEYS[2 + 2i]   job i's hash and history list (i = 1 … n)

  ARGV[1]  consumer group      ARGV[2]  consumer name
  ARGV[3]  now, Unix ms        ARGV[4]  max attempts (also the cap on deliveries: poison jobs)
  ARGV[5]  '1' to start the next attempt too, when the job may start now; '' claim only
  ARGV[4 + 2i], ARGV[5 + 2i]   job i's stream entry id and new lease token

  Starting here does what start-attempt.lua does, in the same round trip: the attempt is recorded
  durably before the LLM is called. It starts only a job that is queued or retrying, due
  (nextAttemptAt ≤ now) and has an attempt left; a job waiting for a retry is only claimed, and
  its caller waits and calls start-attempt.lua itself. A draining worker passes '' (it must not
  start work it would hand back at once).

  Returns one reply per job, in order:
           {'missing'}        job expired or never existed; entry acknowledged
         | {'terminal'}       job already final; entry acknowledged (a late duplicate delivery)
         | {'dead-lettered'}  attempts or deliveries exhausted; job failed and dead-lettered
         | {'ok', started, field, value, …}  started: the number of the attempt this claim started,
                              or 0 when none; then the job hash as claimed, before that attempt
                              started (HGETALL shape; a field may repeat, the later value wins)
]]
local stream, deadLetters = KEYS[1], KEYS[2]
local group, consumer, now = ARGV[1], ARGV[2], ARGV[3]
local maxAttempts = tonumber(ARGV[4])
local startNow = ARGV[5] == '1'

local function claim(job, history, entryId, token)
  local function ack()
    redis.call('XACK', stream, group, entryId)
    redis.call('XDEL', stream, entryId)
  end

  -- One read gives every field this needs and the reply; the writes are gathered into one HSET.
  local hash = redis.call('HGETALL', job)
  if #hash == 0 then
    ack()
    return {'missing'}
  end
  local f = {}
  for i = 1, #hash, 2 do f[hash[i]] = hash[i + 1] end
  local status = f.status
  if status == 'completed' or status == 'failed' then
    ack()
    return {'terminal'}
  end

  local deliveries = tonumber(f.deliveries or '0') + 1
  local attempts = tonumber(f.attempts or '0')
  local nextAttemptAt = f.nextAttemptAt
  -- The fields this claim sets: written below and appended to the reply (later pairs win).
  local claimed = {'deliveries', deliveries, 'lease', token, 'leaseOwner', consumer, 'maxAttempts', maxAttempts, 'entryId', entryId}

  local lastAttemptLost = false
  if status == 'processing' then
    -- The previous holder died or lost its lease mid-attempt. That attempt counts: close it as lost.
    local last = redis.call('LINDEX', history, -1)
    if last then
      local entry = cjson.decode(last)
      if entry.outcome == nil then
        entry.endedAt = tonumber(now)
        entry.outcome = 'worker-lost'
        entry.error = {type = 'worker-lost', message = 'The worker running this attempt stopped before recording an outcome.'}
        redis.call('LSET', history, -1, cjson.encode(entry))
      end
    end
    local lost = cjson.encode({type = 'worker-lost', message = 'The worker running attempt ' .. attempts .. ' stopped before recording an outcome.'})
    for _, v in ipairs({'status', 'retrying', 'nextAttemptAt', now, 'updatedAt', now, 'error', lost}) do
      table.insert(claimed, v)
    end
    status = 'retrying'
    nextAttemptAt = now
    lastAttemptLost = true
  end

  local deadError
  if attempts >= maxAttempts then
    deadError = {type = 'attempts-exhausted', message = 'All ' .. maxAttempts .. ' attempts were used; the last one did not finish.'}
    -- A job whose last attempt finished keeps that attempt's error; one whose last attempt was lost
    -- with its worker says that its attempts are used up (the attempt itself is marked worker-lost).
    if f.error and not lastAttemptLost then deadError = cjson.decode(f.error) end
  elseif deliveries > maxAttempts then
    deadError = {type = 'poison-job', message = 'Delivered ' .. deliveries .. ' times without finishing; a job that keeps stopping its worker is dead-lettered.'}
  end

  if deadError then
    redis.call('HSET', job, 'deliveries', deliveries, 'maxAttempts', maxAttempts, 'entryId', entryId, 'status', 'failed', 'error', cjson.encode(deadError), 'completedAt', now, 'updatedAt', now)
    redis.call('HDEL', job, 'lease', 'leaseOwner', 'nextAttemptAt')
    redis.call('ZADD', deadLetters, now, f.id)
    -- [tenant dead letters] The tenant's own dead-letter set beside the global one, so a tenant's
    -- listing reads only its jobs: KEYS[2] .. ':' .. tenant (same hash tag, so same slot).
    -- A job stored before tenants existed has no 'tenant' field and belongs to 'default'.
    redis.call('ZADD', deadLetters .. ':' .. (f.tenant or 'default'), now, f.id)
    -- [/tenant dead letters]
    ack()
    local retention = tonumber(f.retentionMs or '0')
    if retention > 0 then
      redis.call('PEXPIRE', job, retention)
      redis.call('PEXPIRE', history, retention)
    end
    return {'dead-lettered'}
  end

  local writes = {unpack(claimed)}
  local started = 0
  if startNow and (status == 'queued' or status == 'retrying')
      and tonumber(nextAttemptAt or '0') <= tonumber(now) and attempts < maxAttempts then
    -- As start-attempt.lua: the attempt counts from here, even if the worker dies before the call.
    started = attempts + 1
    for _, v in ipairs({'status', 'processing', 'attempts', started, 'updatedAt', now}) do
      table.insert(writes, v)
    end
    if not f.firstAttemptAt then
      table.insert(writes, 'firstAttemptAt')
      table.insert(writes, now)
    end
  end
  redis.call('HSET', job, unpack(writes))
  if started > 0 then
    if nextAttemptAt then redis.call('HDEL', job, 'nextAttemptAt') end
    redis.call('RPUSH', history, cjson.encode({attempt = started, startedAt = tonumber(now)}))
  end

  -- The job as claimed, before the attempt this claim started: the hash as read, then the claim's fields.
  local reply = {'ok', started}
  for i = 1, #hash do reply[i + 2] = hash[i] end
  for i = 1, #claimed do reply[#hash + 2 + i] = claimed[i] end
  return reply
end

local replies = {}
for i = 1, (#KEYS - 2) / 2 do
  replies[i] = claim(KEYS[1 + 2 * i], KEYS[2 + 2 * i], ARGV[4 + 2 * i], ARGV[5 + 2 * i])
end
return replies
