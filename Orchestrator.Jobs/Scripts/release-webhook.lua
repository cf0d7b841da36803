--[[
  release-webhook: hand back a leased delivery unsent, due again after a wait, without counting a
  try: its sender already has as many tries to the delivery's receiver in flight as
  Webhooks:MaxConcurrentPerReceiver allows. Fenced by the lease token of the claim: a sender whose
  lease lapsed (another worker has the delivery now) changes nothing.

  KEYS[1]  outbox sorted set   {orch}:webhooks
  KEYS[2]  delivery record     {orch}:webhook:<id>

  ARGV[1]  lease token
  ARGV[2]  wait before the delivery is due again, ms (Redis's clock: TIME)

  Re-sent (a lost reply): the lease is gone, so nothing is written; the first send put it back.

  Returns  1 when put back, 0 when the lease no longer holds (re-sent, lapsed, or the record gone)
]]
--@include clock

local outbox, record, token = KEYS[1], KEYS[2], ARGV[1]
if redis.call('HGET', record, 'lease') ~= token then
  return 0
end

local due = string.format('%d', tonumber(nowMs()) + tonumber(ARGV[2]))
local id = string.match(record, ':webhook:([^:]+)$')
redis.call('ZADD', outbox, 'XX', due, id)
redis.call('HSET', record, 'nextAttemptAt', due)
redis.call('HDEL', record, 'lease')
return 1
