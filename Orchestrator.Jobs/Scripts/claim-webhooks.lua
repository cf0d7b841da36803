--[[
  claim-webhooks: lease the webhook deliveries that are due, so that one worker sends each. The
  lease is the delivery's score in the outbox moved to its expiry: a worker that dies mid-send
  leaves the delivery to come due again then, and another worker sends it with the same id.

  KEYS[1]  outbox sorted set    {orch}:webhooks   (records are '{orch}:webhook:<id>', same hash tag)
  KEYS[2]  {orch}:slot-settled, never written: Redis Cluster refuses the script (TRYAGAIN) while the
           slot moves, when a record not moved yet would read as expired (RedisKeys.SlotSettled)

  ARGV[1]  lease, ms
  ARGV[2]  most deliveries to lease
  ARGV[3]  lease token (new for each call)
  Due means due on Redis's clock (TIME).

  Re-sent (a lost reply): the deliveries are already leased, not due, so nothing is returned; they
  come due again when the lease lapses.

  Returns  {id, field, value, field, value, …} per leased delivery (the record as HGETALL gives it).
           A member whose record has expired (the job's retention ended) is removed and not returned.
]]
--@include clock

local outbox = KEYS[1]
local now, lease, limit, token = tonumber(nowMs()), tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local prefix = string.sub(outbox, 1, #outbox - #':webhooks')

local leased = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', outbox, '-inf', string.format('%d', now), 'LIMIT', 0, limit)) do
  local record = prefix .. ':webhook:' .. id
  if redis.call('EXISTS', record) == 0 then
    redis.call('ZREM', outbox, id)
  else
    redis.call('ZADD', outbox, string.format('%d', now + lease), id)
    redis.call('HSET', record, 'lease', token)
    local entry = redis.call('HGETALL', record)
    table.insert(entry, 1, id)
    leased[#leased + 1] = entry
  end
end
return leased
