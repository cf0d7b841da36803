--[[
  prune-expired: drop members of a sorted set of ids whose record has expired, from the oldest, at
  most ARGV[1] looked at. Two sets use it:
  - the webhook outbox {orch}:webhooks (records '{orch}:webhook:<id>'): claim-webhooks.lua drops
    expired members as it meets them, but only a worker with Webhooks:Secret claims; without one,
    the outbox grew by one member per delivery queued, forever. Scored by due time, not by expiry:
    every member looked at.
  - the dead letters {orch}:dead (jobs '{orch}:job:<id>'): finalize (includes/job.lua) prunes them
    only when a job is dead-lettered, so after the last one the set (and the orchestrator.dead_letters
    gauge, its ZCARD) kept every expired id for days. Scored by failure time, so expiry follows the
    order: the look stops at the first job still kept. Run with each worker's queue stats. A
    tenant's own set is trimmed by its next dead letter and expires with its newest member's job
    (includes/job.lua, finalize): the tenant of a job gone is unknown here.

  KEYS[1]  the sorted set, '<prefix>:<name>'   (records are '<prefix>:<kind>:<id>': the same hash
           tag, so the same slot on Redis Cluster, as BullMQ's scripts derive their keys)
  KEYS[2]  '<prefix>:slot-settled', never written: Redis Cluster refuses the script (TRYAGAIN) while
           the slot moves, when a record not moved yet would read as expired (RedisKeys.SlotSettled)
  ARGV[1]  most members to look at     ARGV[2]  the records' kind: 'job' or 'webhook'
  ARGV[3]  '1': stop at the first member whose record is kept (members expire in their order)

  Re-sent: what was dropped is gone; the rest is looked at again, changing nothing.

  Returns  the number of members dropped.
]]
local set, inOrder = KEYS[1], ARGV[3] == '1'
local recordPrefix = string.match(set, '^(.*):[^:]+$') .. ':' .. ARGV[2] .. ':'

-- In order, the usual answer is an oldest member still kept: one look, not a page of ids (this runs
-- every 5 s per worker and partition).
if inOrder then
  local oldest = redis.call('ZRANGE', set, 0, 0)[1]
  if not oldest or redis.call('EXISTS', recordPrefix .. oldest) == 1 then
    return 0
  end
end

local dropped = 0
for _, id in ipairs(redis.call('ZRANGE', set, 0, tonumber(ARGV[1]) - 1)) do
  if redis.call('EXISTS', recordPrefix .. id) == 1 then
    if inOrder then
      break
    end
  else
    redis.call('ZREM', set, id)
    dropped = dropped + 1
  end
end
return dropped
