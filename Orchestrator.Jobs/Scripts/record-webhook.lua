--[[
  record-webhook: record how one try of a webhook delivery went, and schedule the next try or take
  the delivery out of the outbox (delivered, or given up). Fenced by the lease token of the claim:
  a sender whose lease lapsed (another worker has the delivery now) changes nothing.

  KEYS[1]  outbox sorted set   {orch}:webhooks
  KEYS[2]  delivery record     {orch}:webhook:<id>
  KEYS[3]  the record's tries  {orch}:webhook:<id>:attempts   (the last 20 kept)

  ARGV[1]  lease token         ARGV[2]  now, Unix ms
  ARGV[3]  outcome: delivered | retrying | failed (given up)
  ARGV[4]  HTTP status code of the answer, 0 when none came
  ARGV[5]  error text, or ''   ARGV[6]  next try due, Unix ms (with 'retrying')

  Re-sent: lastRecord = '<token>:<attempts before>' identifies the call; one already applied
  answers 1 again and writes nothing.

  Returns  1 recorded | 0 stale (the record is gone or another lease holds it)
]]
local outbox, record, tries = KEYS[1], KEYS[2], KEYS[3]
local token, now, outcome, code, err, due = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]

local f = redis.call('HMGET', record, 'lease', 'attempts', 'lastRecord')
if not f[1] then
  if f[3] and string.sub(f[3], 1, #token + 1) == token .. ':' then
    return 1
  end
  return 0
end
if f[1] ~= token then
  return 0
end

local id = string.match(record, ':webhook:([^:]+)$')
local attempts = tonumber(f[2] or '0') + 1
local entry = {at = tonumber(now), statusCode = tonumber(code)}
if err ~= '' then entry.error = err end
redis.call('RPUSH', tries, cjson.encode(entry))
redis.call('LTRIM', tries, -20, -1)
redis.call('HSETNX', record, 'firstAttemptAt', now)
redis.call('HSET', record, 'attempts', attempts, 'lastAttemptAt', now, 'lastStatusCode', code, 'lastError', err,
  'status', outcome == 'retrying' and 'pending' or outcome, 'lastRecord', token .. ':' .. (f[2] or '0'))
redis.call('HDEL', record, 'lease')

if outcome == 'retrying' then
  redis.call('HSET', record, 'nextAttemptAt', due)
  redis.call('ZADD', outbox, due, id)
else
  redis.call('HDEL', record, 'nextAttemptAt')
  if outcome == 'delivered' then
    redis.call('HSET', record, 'deliveredAt', now)
  end
  redis.call('ZREM', outbox, id)
end

-- The tries go with the record, which goes with the job (its retention, set by finalize).
local ttl = redis.call('PTTL', record)
if ttl > 0 then
  redis.call('PEXPIRE', tries, ttl)
end
return 1
