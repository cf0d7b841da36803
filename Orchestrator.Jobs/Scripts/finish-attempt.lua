--[[
  finish-attempt: record how attempts ended and move each job on, any number of jobs in one call
  (the worker commits the outcomes that are ready together). Each job is its own compare-and-set:
  only the lease holder, for the attempt that is running, with the job still 'processing'. A stale
  worker (paused past its lease, then resumed) gets 0 for that job and changes nothing there.

  KEYS[1]  jobs stream         KEYS[2]  dead-letter sorted set (all tenants); the tenant's own
                               set is KEYS[2] .. ':' .. tenant (same hash tag), written beside it
  KEYS[1 + 2i], KEYS[2 + 2i]   job i's hash and history list (i = 1 … n)

  ARGV[1]  consumer group      ARGV[2]  now, Unix ms
  ARGV[3 + 8(i-1)] …           job i's eight values:
    lease token, attempt number, attempt outcome (succeeded, transient-failure, …),
    next status (completed | retrying | failed), stream entry id, result JSON or '',
    error JSON or '', retry delay ms or ''

  Returns one integer per job, in order: 1 when recorded, 0 when the caller's lease or attempt is stale.
]]
local stream, deadLetters = KEYS[1], KEYS[2]
local group, now = ARGV[1], ARGV[2]

local function finish(job, history, token, attempt, outcome, nextStatus, entryId, result, err, retryDelay)
  local fields = redis.call('HMGET', job, 'lease', 'status', 'attempts', 'retentionMs', 'id', 'tenant')
  if fields[1] ~= token or fields[2] ~= 'processing' or fields[3] ~= attempt then
    return 0
  end

  local index = tonumber(attempt) - 1
  local entry = cjson.decode(redis.call('LINDEX', history, index))
  entry.endedAt = tonumber(now)
  entry.outcome = outcome
  if err ~= '' then entry.error = cjson.decode(err) end
  if retryDelay ~= '' then entry.retryDelayMs = tonumber(retryDelay) end
  redis.call('LSET', history, index, cjson.encode(entry))

  if nextStatus == 'retrying' then
    redis.call('HSET', job, 'status', 'retrying', 'nextAttemptAt', string.format('%d', tonumber(now) + tonumber(retryDelay)),
      'error', err, 'updatedAt', now)
    return 1
  end

  if nextStatus == 'completed' then
    redis.call('HSET', job, 'status', 'completed', 'result', result, 'completedAt', now, 'updatedAt', now)
    redis.call('HDEL', job, 'error', 'nextAttemptAt', 'lease', 'leaseOwner')
  else
    redis.call('HSET', job, 'status', 'failed', 'error', err, 'completedAt', now, 'updatedAt', now)
    redis.call('HDEL', job, 'nextAttemptAt', 'lease', 'leaseOwner')
    redis.call('ZADD', deadLetters, now, fields[5])
  end

  -- [tenant dead letters] The tenant's own dead-letter set beside the global one, so a tenant's
  -- listing reads only its jobs: KEYS[2] .. ':' .. tenant (same hash tag, so same slot). A job
  -- stored before tenants existed has no 'tenant' field and belongs to 'default'.
  local tenantDeadLetters = deadLetters .. ':' .. (fields[6] or 'default')
  if nextStatus == 'failed' then
    redis.call('ZADD', tenantDeadLetters, now, fields[5])
  end
  -- [/tenant dead letters]

  -- Final: the stream entry is done with. Acknowledge and delete it so the stream stays short.
  redis.call('XACK', stream, group, entryId)
  redis.call('XDEL', stream, entryId)

  local retention = tonumber(fields[4] or '0')
  if retention > 0 then
    redis.call('PEXPIRE', job, retention)
    redis.call('PEXPIRE', history, retention)
    if nextStatus == 'failed' then
      redis.call('ZREMRANGEBYSCORE', deadLetters, '-inf', '(' .. (tonumber(now) - retention))
      redis.call('ZREMRANGEBYSCORE', tenantDeadLetters, '-inf', '(' .. (tonumber(now) - retention)) -- [tenant dead letters]
    end
  end
  return 1
end

local replies = {}
for i = 1, (#KEYS - 2) / 2 do
  local a = 3 + 8 * (i - 1)
  replies[i] = finish(KEYS[1 + 2 * i], KEYS[2 + 2 * i],
    ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7])
end
return replies
