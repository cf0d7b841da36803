--[[
  prune-webhooks: drop outbox members whose delivery record has expired (the job's retention ended),
  from the oldest, at most ARGV[1] looked at. claim-webhooks.lua drops them as it meets them, but only
  a worker with Webhooks:Secret claims: without one, the outbox grew by one member per delivery
  queued, forever. Run by workers without a secret.

  KEYS[1]  outbox sorted set    {orch}:webhooks   (records are '{orch}:webhook:<id>', same hash tag)
  ARGV[1]  most members to look at

  Re-sent: what was dropped is gone; the rest is looked at again, changing nothing.

  Returns  the number of members dropped.
]]
local outbox = KEYS[1]
local prefix = string.sub(outbox, 1, #outbox - #':webhooks')

local dropped = 0
for _, id in ipairs(redis.call('ZRANGE', outbox, 0, tonumber(ARGV[1]) - 1)) do
  if redis.call('EXISTS', prefix .. ':webhook:' .. id) == 0 then
    redis.call('ZREM', outbox, id)
    dropped = dropped + 1
  end
end
return dropped
