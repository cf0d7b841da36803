--[[
  claim-webhooks: lease the webhook deliveries that are due, so that one worker sends each. The
  lease is the delivery's score in the outbox moved to its expiry: a worker that dies mid-send
  leaves the delivery to come due again then, and another worker sends it with the same id.

  KEYS[1]  outbox sorted set    {orch}:webhooks   (records are '{orch}:webhook:<id>', same hash tag)

  ARGV[1]  now, Unix ms
  ARGV[2]  lease, ms
  ARGV[3]  most deliveries to lease
  ARGV[4]  lease token (new for each call)

  Re-sent (a lost reply): the deliveries are already leased, not due, so nothing is returned; they
  come due again when the lease lapses.

  Returns  {id, field, value, field, value, …} per leased delivery (the record as HGETALL gives it).
           A member whose record has expired (the job's retention ended) is removed and not returned.
]]
local outbox = KEYS[1]
local now, lease, limit, token = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local prefix = string.sub(outbox, 1, #outbox - #':webhooks')

local leased = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', outbox, '-inf', now, 'LIMIT', 0, limit)) do
  local record = prefix .. ':webhook:' .. id
  if redis.call('EXISTS', record) == 0 then
    redis.call('ZREM', outbox, id)
  else
    redis.call('ZADD', outbox, now + lease, id)
    redis.call('HSET', record, 'lease', token)
    local entry = redis.call('HGETALL', record)
    table.insert(entry, 1, id)
    leased[#leased + 1] = entry
  end
end
return leased
