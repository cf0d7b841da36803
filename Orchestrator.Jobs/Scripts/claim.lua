--[[
  claim: a worker takes a delivered (or reclaimed) stream entry and becomes the job's lease holder.
  A new random lease token fences out any earlier holder: every later write checks it.

  KEYS[1]  job hash            KEYS[2]  job history list
  KEYS[3]  jobs stream         KEYS[4]  dead-letter sorted set

  ARGV[1]  consumer group      ARGV[2]  stream entry id
  ARGV[3]  new lease token     ARGV[4]  consumer name
  ARGV[5]  now, Unix ms        ARGV[6]  max attempts (also the cap on deliveries: poison jobs)
  ARGV[7]  '1' to start the next attempt too, when the job may start now; '' or absent: claim only

  Starting here does what start-attempt.lua does, in the same round trip: the attempt is recorded
  durably before the LLM is called. It starts only a job that is queued or retrying, due
  (nextAttemptAt ≤ now) and has an attempt left; a job waiting for a retry is only claimed, and
  its caller waits and calls start-attempt.lua itself. A draining worker passes '' (it must not
  start work it would hand back at once).

  Returns  {'missing'}        job expired or never existed; entry acknowledged
         | {'terminal'}       job already final; entry acknowledged (a late duplicate delivery)
         | {'dead-lettered'}  attempts or deliveries exhausted; job failed and dead-lettered
         | {'ok', started, field, value, …}  started: the number of the attempt this claim started,
                              or 0 when none; then the job hash as claimed, before that attempt
                              started (HGETALL shape)
]]
local function ack()
  redis.call('XACK', KEYS[3], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[3], ARGV[2])
end

local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  ack()
  return {'missing'}
end
if status == 'completed' or status == 'failed' then
  ack()
  return {'terminal'}
end

local now = ARGV[5]
local maxAttempts = tonumber(ARGV[6])
local deliveries = redis.call('HINCRBY', KEYS[1], 'deliveries', 1)
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
redis.call('HSET', KEYS[1], 'lease', ARGV[3], 'leaseOwner', ARGV[4], 'maxAttempts', ARGV[6], 'entryId', ARGV[2])

local deadError
local lastAttemptLost = false
if status == 'processing' then
  -- The previous holder died or lost its lease mid-attempt. That attempt counts: close it as lost.
  local last = redis.call('LINDEX', KEYS[2], -1)
  if last then
    local entry = cjson.decode(last)
    if entry.outcome == nil then
      entry.endedAt = tonumber(now)
      entry.outcome = 'worker-lost'
      entry.error = {type = 'worker-lost', message = 'The worker running this attempt stopped before recording an outcome.'}
      redis.call('LSET', KEYS[2], -1, cjson.encode(entry))
    end
  end
  redis.call('HSET', KEYS[1], 'status', 'retrying', 'nextAttemptAt', now, 'updatedAt', now,
    'error', cjson.encode({type = 'worker-lost', message = 'The worker running attempt ' .. attempts .. ' stopped before recording an outcome.'}))
  status = 'retrying'
  lastAttemptLost = true
end

if attempts >= maxAttempts then
  deadError = {type = 'attempts-exhausted', message = 'All ' .. maxAttempts .. ' attempts were used; the last one did not finish.'}
  -- A job whose last attempt finished keeps that attempt's error; one whose last attempt was lost
  -- with its worker says that its attempts are used up (the attempt itself is marked worker-lost).
  local lastError = redis.call('HGET', KEYS[1], 'error')
  if lastError and not lastAttemptLost then deadError = cjson.decode(lastError) end
elseif deliveries > maxAttempts then
  deadError = {type = 'poison-job', message = 'Delivered ' .. deliveries .. ' times without finishing; a job that keeps stopping its worker is dead-lettered.'}
end

if deadError then
  redis.call('HSET', KEYS[1], 'status', 'failed', 'error', cjson.encode(deadError), 'completedAt', now, 'updatedAt', now)
  redis.call('HDEL', KEYS[1], 'lease', 'leaseOwner', 'nextAttemptAt')
  redis.call('ZADD', KEYS[4], now, redis.call('HGET', KEYS[1], 'id'))
  ack()
  local retention = tonumber(redis.call('HGET', KEYS[1], 'retentionMs') or '0')
  if retention > 0 then
    redis.call('PEXPIRE', KEYS[1], retention)
    redis.call('PEXPIRE', KEYS[2], retention)
  end
  return {'dead-lettered'}
end

local result = redis.call('HGETALL', KEYS[1])
local started = 0
if ARGV[7] == '1' and (status == 'queued' or status == 'retrying') then
  local nextAttemptAt = tonumber(redis.call('HGET', KEYS[1], 'nextAttemptAt') or '0')
  if nextAttemptAt <= tonumber(now) and attempts < maxAttempts then
    -- As start-attempt.lua: the attempt counts from here, even if the worker dies before the call.
    started = attempts + 1
    redis.call('HSET', KEYS[1], 'status', 'processing', 'attempts', started, 'updatedAt', now)
    redis.call('HSETNX', KEYS[1], 'firstAttemptAt', now)
    redis.call('HDEL', KEYS[1], 'nextAttemptAt')
    redis.call('RPUSH', KEYS[2], cjson.encode({attempt = started, startedAt = tonumber(now)}))
  end
end
table.insert(result, 1, started)
table.insert(result, 1, 'ok')
return result
