--[[
  finish-attempt: record how an attempt ended and move the job on, as one compare-and-set:
  only the lease holder, for the attempt that is running, with the job still 'processing'.
  A stale worker (paused past its lease, then resumed) gets 0 and changes nothing.

  KEYS[1]  job hash            KEYS[2]  job history list
  KEYS[3]  jobs stream         KEYS[4]  dead-letter sorted set

  ARGV[1]  lease token         ARGV[2]  attempt number
  ARGV[3]  now, Unix ms        ARGV[4]  attempt outcome (succeeded, transient-failure, …)
  ARGV[5]  next status: completed | retrying | failed
  ARGV[6]  consumer group      ARGV[7]  stream entry id
  ARGV[8]  result JSON or ''   ARGV[9]  error JSON or ''
  ARGV[10] retry delay ms or ''  ARGV[11] next attempt at, Unix ms, or ''

  Returns  1 when recorded, 0 when the caller's lease or attempt is stale.
]]
local job = redis.call('HMGET', KEYS[1], 'lease', 'status', 'attempts', 'retentionMs', 'id')
if job[1] ~= ARGV[1] or job[2] ~= 'processing' or job[3] ~= ARGV[2] then
  return 0
end

local now = ARGV[3]
local index = tonumber(ARGV[2]) - 1
local entry = cjson.decode(redis.call('LINDEX', KEYS[2], index))
entry.endedAt = tonumber(now)
entry.outcome = ARGV[4]
if ARGV[9] ~= '' then entry.error = cjson.decode(ARGV[9]) end
if ARGV[10] ~= '' then entry.retryDelayMs = tonumber(ARGV[10]) end
redis.call('LSET', KEYS[2], index, cjson.encode(entry))

local nextStatus = ARGV[5]
if nextStatus == 'retrying' then
  redis.call('HSET', KEYS[1], 'status', 'retrying', 'nextAttemptAt', ARGV[11], 'error', ARGV[9], 'updatedAt', now)
  return 1
end

if nextStatus == 'completed' then
  redis.call('HSET', KEYS[1], 'status', 'completed', 'result', ARGV[8], 'completedAt', now, 'updatedAt', now)
  redis.call('HDEL', KEYS[1], 'error', 'nextAttemptAt', 'lease', 'leaseOwner')
else
  redis.call('HSET', KEYS[1], 'status', 'failed', 'error', ARGV[9], 'completedAt', now, 'updatedAt', now)
  redis.call('HDEL', KEYS[1], 'nextAttemptAt', 'lease', 'leaseOwner')
  redis.call('ZADD', KEYS[4], now, job[5])
end

-- Final: the stream entry is done with. Acknowledge and delete it so the stream stays short.
redis.call('XACK', KEYS[3], ARGV[6], ARGV[7])
redis.call('XDEL', KEYS[3], ARGV[7])

local retention = tonumber(job[4] or '0')
if retention > 0 then
  redis.call('PEXPIRE', KEYS[1], retention)
  redis.call('PEXPIRE', KEYS[2], retention)
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. (tonumber(now) - retention))
end
return 1
