--[[
  record-webhook: record how one try of a webhook delivery went, and schedule the next try or take
  the delivery out of the outbox (delivered, or given up). Fenced by the lease token of the claim:
  a sender whose lease lapsed (another worker has the delivery now) changes nothing. Times are
  Redis's (TIME), so the 24 h window is measured on one clock whichever workers tried. A try is
  dated when it was sent (its 'at', firstAttemptAt, lastAttemptAt): now less the time the sender
  says has passed since, which a receiver that never answers makes as long as Webhooks:RequestTimeout.

  KEYS[1]  outbox sorted set   {orch}:webhooks
  KEYS[2]  delivery record     {orch}:webhook:<id>
  KEYS[3]  the record's tries  {orch}:webhook:<id>:attempts   (the last 20 kept)

  ARGV[1]  lease token
  ARGV[2]  '1' when the receiver answered 2xx, else '0'
  ARGV[3]  HTTP status code of the answer, 0 when none came
  ARGV[4]  error text, or ''
  ARGV[5]  wait before the next try, ms (used when not delivered)
  ARGV[6]  retry window, ms (Webhooks:MaxAge): a next try later than this after the first is not
           made; the delivery is given up ('failed') instead
  ARGV[7]  ms since the try was sent (the sender's monotonic clock); the next try is due the wait
           after now, the end of this one

  Re-sent: lastRecord = '<token>:<attempts before>' identifies the call; one already applied
  answers as the first time ({status, nextAttemptAt}) and writes nothing.

  Returns  {'delivered', 0} | {'retrying', next try (Unix ms)} | {'failed', 0}
         | {'stale'}   the record is gone or another lease holds it
]]
--@include clock

local outbox, record, tries = KEYS[1], KEYS[2], KEYS[3]
local token, delivered, code, err = ARGV[1], ARGV[2] == '1', ARGV[3], ARGV[4]
local delay, window, since = tonumber(ARGV[5]), tonumber(ARGV[6]), math.max(0, tonumber(ARGV[7]))

local f = redis.call('HMGET', record, 'lease', 'attempts', 'lastRecord', 'firstAttemptAt', 'status', 'nextAttemptAt')
if not f[1] then
  if f[3] and string.sub(f[3], 1, #token + 1) == token .. ':' then
    return {f[5] == 'pending' and 'retrying' or f[5], tonumber(f[6] or '0')}
  end
  return {'stale'}
end
if f[1] ~= token then
  return {'stale'}
end

local now = tonumber(nowMs())
local sent = now - since
local first = tonumber(f[4] or sent)
local id = string.match(record, ':webhook:([^:]+)$')
local attempts = tonumber(f[2] or '0') + 1
local status, due = 'delivered', 0
if not delivered then
  due = now + delay
  status = (due - first > window) and 'failed' or 'retrying'
end

local entry = {at = sent, statusCode = tonumber(code)}
if err ~= '' then entry.error = err end
redis.call('RPUSH', tries, cjson.encode(entry))
redis.call('LTRIM', tries, -20, -1)
redis.call('HSET', record, 'firstAttemptAt', string.format('%d', first), 'attempts', attempts,
  'lastAttemptAt', string.format('%d', sent), 'lastStatusCode', code, 'lastError', err,
  'status', status == 'retrying' and 'pending' or status, 'lastRecord', token .. ':' .. (f[2] or '0'))
redis.call('HDEL', record, 'lease')

if status == 'retrying' then
  redis.call('HSET', record, 'nextAttemptAt', string.format('%d', due))
  redis.call('ZADD', outbox, string.format('%d', due), id)
else
  redis.call('HDEL', record, 'nextAttemptAt')
  if status == 'delivered' then
    redis.call('HSET', record, 'deliveredAt', string.format('%d', now))
  end
  redis.call('ZREM', outbox, id)
end

-- The tries go with the record, which goes with the job (its retention, set by finalize).
local ttl = redis.call('PTTL', record)
if ttl > 0 then
  redis.call('PEXPIRE', tries, ttl)
end
return {status, due}
